-- composite: indexes shaped like the hot queries' predicates and sort orders.
-- - posts(author_id, created_at DESC, id DESC): the feed reads each followed author's newest
--   posts; the seed has no index on posts.author_id at all.
-- - user_shares(user_id, last_updated DESC) for open positions only: the portfolio filter and
--   sort in one partial index.
-- - mls_group_members(user_id, group_id): the groups query and the membership check.
-- - follows(following_id): follower lists (follower_id is served by the UNIQUE constraint's
--   (follower_id, following_id) index, so idx_follows_follower is dropped as redundant).
-- users(email)/users(username) are dropped too: their UNIQUE constraints already index them.
CREATE INDEX idx_posts_author_created ON posts(author_id, created_at DESC, id DESC);
CREATE INDEX idx_user_shares_open ON user_shares(user_id, last_updated DESC)
  WHERE yes_shares > 0 OR no_shares > 0;
CREATE INDEX idx_user_shares_event ON user_shares(event_id);
CREATE INDEX idx_follows_following ON follows(following_id);
CREATE INDEX idx_events_closing ON events(closing_date) WHERE status = 'open';
CREATE INDEX idx_mls_key_packages_user ON mls_key_packages(user_id);
CREATE INDEX idx_mls_members_user_group ON mls_group_members(user_id, group_id);
CREATE INDEX idx_mls_messages_group ON mls_group_messages(group_id, id);
CREATE INDEX idx_mls_welcome_receiver ON mls_welcome_messages(receiver_id);
