-- Fixture for the database tests (tests/db): every type and object rewind's dump must keep.
-- Loaded with the stock client: mariadb --defaults-file=F < fixture.sql
SET NAMES utf8mb4;
SET time_zone = '+00:00';

-- 1. The mail server's database: InnoDB, foreign keys, every type, generated columns.
CREATE DATABASE mail_app DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE mail_app;

CREATE TABLE domains (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE,
  created TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB;

CREATE TABLE users (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  domain_id INT UNSIGNED NOT NULL,
  login VARCHAR(64) NOT NULL,
  full_name VARCHAR(200) CHARACTER SET latin1 COLLATE latin1_swedish_ci,
  display VARCHAR(200) CHARACTER SET utf8mb4,
  quota_mb INT NOT NULL DEFAULT 100,
  email VARCHAR(330) AS (CONCAT(login, '@', domain_id)) VIRTUAL,
  quota_bytes BIGINT AS (quota_mb * 1048576) STORED,
  CONSTRAINT fk_users_domain FOREIGN KEY (domain_id) REFERENCES domains (id) ON DELETE CASCADE,
  KEY k_login (login)
) ENGINE=InnoDB AUTO_INCREMENT=1000;

CREATE TABLE types (
  id INT NOT NULL PRIMARY KEY,
  t_tiny TINYINT, t_small SMALLINT UNSIGNED, t_med MEDIUMINT, t_int INT, t_big BIGINT UNSIGNED,
  t_dec DECIMAL(30,10), t_dec0 DECIMAL(5,0),
  t_float FLOAT, t_double DOUBLE,
  t_bit1 BIT(1), t_bit BIT(13),
  t_char CHAR(10), t_varchar VARCHAR(100), t_latin1 VARCHAR(100) CHARACTER SET latin1,
  t_text TEXT, t_mtext MEDIUMTEXT,
  t_binary BINARY(8), t_varbinary VARBINARY(64), t_blob BLOB, t_lblob LONGBLOB,
  t_json JSON,
  t_enum ENUM('small','medium','large','x-large'), t_set SET('read','write','admin'),
  t_date DATE, t_time TIME(3), t_datetime DATETIME(6), t_timestamp TIMESTAMP(6) NULL DEFAULT NULL, t_year YEAR,
  t_uuid UUID, t_inet6 INET6,
  t_geo POINT
) ENGINE=InnoDB;

CREATE TABLE `messages` (
  id INT NOT NULL AUTO_INCREMENT,
  user_id BIGINT NOT NULL,
  subject VARCHAR(255),
  body MEDIUMTEXT,
  size INT NOT NULL,
  received DATETIME(3) NOT NULL,
  PRIMARY KEY (id),
  KEY k_user (user_id),
  CONSTRAINT fk_msg_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB;

CREATE SEQUENCE ticket_seq START WITH 100 INCREMENT BY 5;
CREATE TABLE audit_log (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ticket INT NOT NULL DEFAULT (NEXT VALUE FOR ticket_seq),
  what VARCHAR(200) NOT NULL,
  at DATETIME(6) NOT NULL
) ENGINE=InnoDB;

-- Rows that break their CHECK constraints (written with the checks off, as an old server or a
-- bulk load leaves them), and invalid JSON (a JSON column is a CHECK (JSON_VALID(…)) in MariaDB):
-- they must come back as they were.
CREATE TABLE checked (
  id INT NOT NULL PRIMARY KEY,
  qty INT CHECK (qty >= 0),
  doc JSON,
  CONSTRAINT c_small CHECK (qty < 1000)
) ENGINE=InnoDB;
SET check_constraint_checks = 0;
INSERT INTO checked VALUES (1, -5, '{"ok": 1}'), (2, 5000, 'not json {'), (3, 1, '[1, 2]'), (4, NULL, NULL);
SET check_constraint_checks = 1;

-- No primary key at all (and duplicate rows).
CREATE TABLE nopk (a INT, b VARCHAR(20)) ENGINE=InnoDB;

INSERT INTO domains (id, name, created) VALUES
  (1, 'example.com', '2026-01-02 03:04:05.123456'),
  (2, 'exemple.fr', '2026-02-03 04:05:06.000001'),
  (7, 'müller.de', '1999-12-31 23:59:59.999999');

INSERT INTO users (id, domain_id, login, full_name, display, quota_mb) VALUES
  (1000, 1, 'alice', 'Alice Liddell', 'Alice 🐇', 500),
  (1001, 1, 'bob', 'Bjørn Ærø', 'Bjørn', 100),
  (1002, 2, 'chloé', 'Chloé Lefèvre', 'Chloé « 日本語 »', 0),
  (1003, 7, 'dave', NULL, '', 1),
  (1004, 7, 'eve', '', NULL, 2147483647);
DELETE FROM users WHERE id = 1004;  -- AUTO_INCREMENT stays past it

INSERT INTO types VALUES
  (1, -128, 65535, -8388608, -2147483648, 18446744073709551615,
   12345678901234567890.0123456789, -99999,
   3.14159, 2.718281828459045,
   b'1', b'1010101010101',
   'fixed', 'var ''quoted'' "dq" \\ backslash', 'Ç''est latin1: àéîõü ÿ',
   'line1\nline2\r\n\ttab \0 nul', REPEAT('long text ', 1000),
   x'0001020304FEFF00', x'DEADBEEF00', x'00FF00FF', REPEAT(x'00FF7F80', 5000),
   '{"a": [1, 2.5, "x"], "b": {"c": null}, "u": "é€😀"}',
   'medium', 'read,admin',
   '2026-12-01', '-838:59:59.999', '2026-12-01 12:34:56.789012', '2038-01-19 03:14:07.999999', 2155,
   '123e4567-e89b-12d3-a456-426614174000', '2001:db8::1',
   ST_GeomFromText('POINT(1.5 -2.25)')),
  (2, 0, 0, 0, 0, 0, 0, 0,
   -0.0001, 1e308,
   b'0', b'0',
   '', '', '', '', '',
   '', '', '', '',
   '[]',
   'small', '',
   '0000-00-00', '00:00:00', '1000-01-01 00:00:00', '1970-01-01 00:00:01', 1901,
   '00000000-0000-0000-0000-000000000000', '::',
   NULL),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, 127, 1, 1, 1, 1, 0.0000000001, 1,
   1.17549e-38, 2.2250738585072014e-308,
   b'1', b'1111111111111',
   'a', 'x', 'y', 'z', 'w',
   x'00', x'00', x'00', x'00',
   '"just a string"',
   'x-large', 'read,write,admin',
   '9999-12-31', '838:59:59', '9999-12-31 23:59:59.999999', '2000-02-29 12:00:00.5', 0,
   'ffffffff-ffff-ffff-ffff-ffffffffffff', '::ffff:192.0.2.1',
   ST_GeomFromText('POINT(0 0)'));

-- FLOAT values that 6 significant digits (what the server prints) do not give back exactly.
INSERT INTO types (id, t_float, t_double) VALUES
  (5, 16777217, 16777217), (6, 0.12345670163631439, 0.12345670163631439), (7, 3.4028234e38, -1.0000001),
  (8, 1.0000001, 1.401298464324817e-45), (9, -1.17549435e-38, 123456.789);
CREATE TABLE floats (
  id INT NOT NULL PRIMARY KEY,
  f FLOAT NOT NULL, fu FLOAT UNSIGNED, fd FLOAT(7,4), f53 FLOAT(53)
) ENGINE=InnoDB;
INSERT INTO floats VALUES (1, 16777217, 0.1234567, 3.14159, 0.1), (2, -0.12345670163631439, 3.4028234e38, -999.99991, 1e-300),
  (3, 1.401298464324817e-45, 0, 0.00005, -2.5), (4, 7.0000005, 1.0000001, 12.34567, 16777217);

INSERT INTO nopk VALUES (1, 'one'), (1, 'one'), (NULL, NULL), (2, ''), (3, 'three');

-- A trigger (must not fire on restored rows: audit_log would grow).
CREATE TRIGGER users_ai AFTER INSERT ON users FOR EACH ROW
  INSERT INTO audit_log (what, at) VALUES (CONCAT('new user ', NEW.login), NOW(6));
CREATE TRIGGER users_bu BEFORE UPDATE ON users FOR EACH ROW
  SET NEW.quota_mb = GREATEST(NEW.quota_mb, 0);
INSERT INTO users (id, domain_id, login, full_name, display) VALUES (1005, 2, 'frank', 'Frank', 'Frank');

-- A function and a procedure (with ; inside their bodies).
DELIMITER ;;
CREATE FUNCTION quota_of(uid BIGINT) RETURNS BIGINT DETERMINISTIC READS SQL DATA
BEGIN
  DECLARE q BIGINT;
  SELECT quota_mb INTO q FROM users WHERE id = uid;
  RETURN IFNULL(q, -1);
END ;;
CREATE PROCEDURE grow_quota(IN uid BIGINT, IN mb INT)
  COMMENT 'adds; to a quota'
BEGIN
  UPDATE users SET quota_mb = quota_mb + mb WHERE id = uid;
  SELECT quota_of(uid) AS quota;
END ;;
DELIMITER ;

-- Views on views, named so that alphabetical order is the wrong load order; one calls a function.
CREATE VIEW z_user_quota AS SELECT u.login, quota_of(u.id) AS quota, d.name AS domain
  FROM users u JOIN domains d ON d.id = u.domain_id;
CREATE VIEW a_top_users AS SELECT login, quota FROM z_user_quota WHERE quota > 100;
CREATE SQL SECURITY INVOKER VIEW m_top_count AS SELECT COUNT(*) AS n FROM a_top_users;
CREATE ALGORITHM=MERGE VIEW c_small_domains AS SELECT id, name FROM domains WHERE id < 100
  WITH CASCADED CHECK OPTION;

-- An event (far in the future; the scheduler is off in the test server anyway).
CREATE EVENT purge_audit ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00'
  ON COMPLETION PRESERVE DISABLE COMMENT 'nightly purge'
  DO DELETE FROM audit_log WHERE at < NOW() - INTERVAL 30 DAY;

-- The 100k+ row table, in parts (rewind splits it by primary-key ranges).
INSERT INTO messages (id, user_id, subject, body, size, received)
  SELECT seq, 1000 + seq % 4, CONCAT('Subject #', seq, IF(seq % 7 = 0, ' – ünïcödé', '')),
         IF(seq % 1000 = 0, NULL, REPEAT(CHAR(65 + seq % 26), seq % 300)),
         seq % 300, TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND + INTERVAL (seq % 1000) * 1000 MICROSECOND
  FROM seq_1_to_120000;
-- Fresh statistics: rewind decides on parts from the table's size estimate.
ANALYZE TABLE messages;
-- A table named like a part of `messages`: its data file must not take the part's name.
CREATE TABLE `messages.000001` (id INT NOT NULL PRIMARY KEY, note VARCHAR(20)) ENGINE=InnoDB;
INSERT INTO `messages.000001` VALUES (1, 'not a part'), (2, 'of messages');

-- 2. Non-transactional engines, in a database with a latin1 default and odd names.
CREATE DATABASE legacy DEFAULT CHARACTER SET latin1 COLLATE latin1_german1_ci;
USE legacy;
CREATE TABLE counters (name VARCHAR(50) NOT NULL PRIMARY KEY, value BIGINT NOT NULL) ENGINE=MyISAM;
INSERT INTO counters VALUES ('hits', 42), ('größe', -1), ('zero', 0);
CREATE TABLE sessions (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, data BLOB, note VARCHAR(100)) ENGINE=Aria;
INSERT INTO sessions (data, note) VALUES (x'00010203', 'aria row'), (NULL, NULL), ('', '');
CREATE TABLE `weird name ``with`` backticks` (`col with space` INT NOT NULL PRIMARY KEY, `ünï` VARCHAR(10)) ENGINE=InnoDB;
INSERT INTO `weird name ``with`` backticks` VALUES (1, 'ä'), (2, 'ß');
CREATE TABLE `日本語テーブル` (`キー` INT NOT NULL PRIMARY KEY, `値` VARCHAR(20) CHARACTER SET utf8mb4) ENGINE=InnoDB;
INSERT INTO `日本語テーブル` VALUES (1, '東京'), (2, '🗼');
CREATE TABLE `slash/and.dot` (id INT PRIMARY KEY) ENGINE=MyISAM;
INSERT INTO `slash/and.dot` VALUES (1), (2), (3);

-- 3. A database whose name needs quoting, with a table referencing one in another database.
CREATE DATABASE `my db-2026`;
USE `my db-2026`;
CREATE TABLE notes (id INT PRIMARY KEY AUTO_INCREMENT, txt TEXT) ENGINE=InnoDB;
INSERT INTO notes (txt) VALUES ('first'), ('second'), (NULL);
CREATE VIEW all_domains AS SELECT name FROM mail_app.domains;

-- 4. An empty database.
CREATE DATABASE empty_db;
