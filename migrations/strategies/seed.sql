-- seed: the secondary indexes of the Intellacc seed schema (the baseline).
-- A strategy is the complete set of secondary indexes of the ten tables: applying one drops
-- every index that does not back a constraint (primary keys and UNIQUE stay), runs these
-- statements, then VACUUM (ANALYZE). Copy this file to try your own.
CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_username ON users(username);
CREATE INDEX idx_events_status ON events(status);
CREATE INDEX idx_events_closing ON events(closing_date) WHERE status = 'open';
CREATE INDEX idx_user_shares_user ON user_shares(user_id);
CREATE INDEX idx_user_shares_event ON user_shares(event_id);
CREATE INDEX idx_follows_follower ON follows(follower_id);
CREATE INDEX idx_follows_following ON follows(following_id);
CREATE INDEX idx_mls_key_packages_user ON mls_key_packages(user_id);
CREATE INDEX idx_mls_members_user ON mls_group_members(user_id);
CREATE INDEX idx_mls_members_group ON mls_group_members(group_id);
CREATE INDEX idx_mls_messages_group ON mls_group_messages(group_id, id);
CREATE INDEX idx_mls_welcome_receiver ON mls_welcome_messages(receiver_id);
