-- The Intellacc seed schema, verbatim: ten tables, their defaults, UNIQUE constraints and indexes.
-- Anything the harness or the reference server needs beyond it lives in later migrations.
CREATE TABLE users (id SERIAL PRIMARY KEY, username VARCHAR(50) UNIQUE NOT NULL,
  email VARCHAR(255) UNIQUE NOT NULL, password_hash VARCHAR(255) NOT NULL,
  role VARCHAR(20) DEFAULT 'user', rp_balance DECIMAL(15,2) DEFAULT 1000.0,
  created_at TIMESTAMP DEFAULT NOW(), updated_at TIMESTAMP DEFAULT NOW());
CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_username ON users(username);

CREATE TABLE events (id SERIAL PRIMARY KEY, title TEXT NOT NULL, description TEXT,
  category VARCHAR(50), closing_date TIMESTAMP NOT NULL, status VARCHAR(20) DEFAULT 'open',
  resolved_outcome VARCHAR(10), market_prob DECIMAL(5,4) DEFAULT 0.5,
  cumulative_stake DECIMAL(15,2) DEFAULT 0, created_by INTEGER REFERENCES users(id),
  created_at TIMESTAMP DEFAULT NOW());
CREATE INDEX idx_events_status ON events(status);
CREATE INDEX idx_events_closing ON events(closing_date) WHERE status = 'open';

CREATE TABLE user_shares (id SERIAL PRIMARY KEY, user_id INTEGER REFERENCES users(id),
  event_id INTEGER REFERENCES events(id), yes_shares DECIMAL(15,4) DEFAULT 0,
  no_shares DECIMAL(15,4) DEFAULT 0, last_updated TIMESTAMP DEFAULT NOW(),
  UNIQUE(user_id, event_id));
CREATE INDEX idx_user_shares_user ON user_shares(user_id);
CREATE INDEX idx_user_shares_event ON user_shares(event_id);

CREATE TABLE posts (id SERIAL PRIMARY KEY, author_id INTEGER REFERENCES users(id),
  content TEXT NOT NULL, like_count INTEGER DEFAULT 0, comment_count INTEGER DEFAULT 0,
  created_at TIMESTAMP DEFAULT NOW());

CREATE TABLE follows (id SERIAL PRIMARY KEY, follower_id INTEGER REFERENCES users(id),
  following_id INTEGER REFERENCES users(id), created_at TIMESTAMP DEFAULT NOW(),
  UNIQUE(follower_id, following_id));
CREATE INDEX idx_follows_follower ON follows(follower_id);
CREATE INDEX idx_follows_following ON follows(following_id);

CREATE TABLE mls_key_packages (id SERIAL PRIMARY KEY, user_id INTEGER REFERENCES users(id),
  device_id VARCHAR(100) DEFAULT 'default', package_data BYTEA NOT NULL,
  hash VARCHAR(128) NOT NULL, last_updated_at TIMESTAMP DEFAULT NOW(),
  UNIQUE(user_id, device_id));
CREATE INDEX idx_mls_key_packages_user ON mls_key_packages(user_id);

CREATE TABLE mls_groups (id SERIAL PRIMARY KEY, group_id VARCHAR(64) UNIQUE NOT NULL,
  name VARCHAR(255), created_by INTEGER REFERENCES users(id), created_at TIMESTAMP DEFAULT NOW());

CREATE TABLE mls_group_members (id SERIAL PRIMARY KEY,
  group_id VARCHAR(64) REFERENCES mls_groups(group_id), user_id INTEGER REFERENCES users(id),
  joined_at TIMESTAMP DEFAULT NOW(), UNIQUE(group_id, user_id));
CREATE INDEX idx_mls_members_user ON mls_group_members(user_id);
CREATE INDEX idx_mls_members_group ON mls_group_members(group_id);

CREATE TABLE mls_group_messages (id SERIAL PRIMARY KEY, group_id VARCHAR(64) NOT NULL,
  sender_id INTEGER REFERENCES users(id), epoch INTEGER NOT NULL,
  content_type VARCHAR(20) NOT NULL, data BYTEA NOT NULL, created_at TIMESTAMP DEFAULT NOW());
CREATE INDEX idx_mls_messages_group ON mls_group_messages(group_id, id);

CREATE TABLE mls_welcome_messages (id SERIAL PRIMARY KEY, group_id VARCHAR(64) NOT NULL,
  receiver_id INTEGER REFERENCES users(id), data BYTEA NOT NULL, created_at TIMESTAMP DEFAULT NOW());
CREATE INDEX idx_mls_welcome_receiver ON mls_welcome_messages(receiver_id);
