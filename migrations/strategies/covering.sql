-- covering: the composite strategy plus INCLUDE columns, so the hot paths can run as
-- index-only scans (VACUUM keeps the visibility map current after seeding).
-- - posts: the feed's sort keys plus the small columns it returns (content stays in the heap).
-- - user_shares: the whole open position, for an index-only portfolio scan.
-- - mls_group_messages: message metadata beside (group_id, id); the BYTEA stays in the heap.
-- - mls_group_members: group ids per user, index-only for the groups query.
CREATE INDEX idx_posts_author_created_cov ON posts(author_id, created_at DESC, id DESC)
  INCLUDE (like_count, comment_count);
CREATE INDEX idx_user_shares_open_cov ON user_shares(user_id, last_updated DESC)
  INCLUDE (event_id, yes_shares, no_shares) WHERE yes_shares > 0 OR no_shares > 0;
CREATE INDEX idx_user_shares_event ON user_shares(event_id);
CREATE INDEX idx_follows_following ON follows(following_id);
CREATE INDEX idx_events_closing ON events(closing_date) INCLUDE (title, market_prob)
  WHERE status = 'open';
CREATE INDEX idx_mls_key_packages_user ON mls_key_packages(user_id);
CREATE INDEX idx_mls_members_user_group ON mls_group_members(user_id, group_id);
CREATE INDEX idx_mls_messages_group_cov ON mls_group_messages(group_id, id)
  INCLUDE (sender_id, epoch, content_type);
CREATE INDEX idx_mls_welcome_receiver ON mls_welcome_messages(receiver_id);
