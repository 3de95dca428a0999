#!/usr/bin/env bash
# Kinds of columns and tables the fixture lacks, each of which a dump can lose without an error:
# INVISIBLE columns (SELECT * leaves them out), generated columns (VIRTUAL and PERSISTENT: the
# server refuses values for them), COMPRESSED columns, an application-time period with WITHOUT
# OVERLAPS, FULLTEXT and SPATIAL indexes, a partitioned table, MEMORY and CSV tables,
# and the AUTO_INCREMENT counter of a table whose last rows were deleted. Backup, drop, restore:
# mariadb-dump identical, the invisible column's values and the counter as before, and the
# generated columns still generated.
source "$(dirname "$0")/lib.sh" "$@"
FIXTURE_DBS=(kinds)

start_server s1
mdb <<'SQL' || fail "setup"
CREATE DATABASE kinds;
USE kinds;
CREATE TABLE hidden (id INT PRIMARY KEY, v VARCHAR(10), secret VARCHAR(20) INVISIBLE DEFAULT 'x');
INSERT INTO hidden (id, v, secret) VALUES (1, 'a', 'only-here'), (2, 'b', NULL);
CREATE TABLE gen (id INT PRIMARY KEY, kb INT, mb INT AS (kb DIV 1024) VIRTUAL,
                  tag VARCHAR(20) AS (CONCAT('box-', id)) PERSISTENT, KEY (tag));
INSERT INTO gen (id, kb) VALUES (1, 2048), (2, 10);
CREATE TABLE packed (id INT PRIMARY KEY, body TEXT COMPRESSED, raw BLOB COMPRESSED);
INSERT INTO packed VALUES (1, REPEAT('mail body ', 500), UNHEX(REPEAT('00FF', 300)));
CREATE TABLE quota_periods (box INT, s DATE, e DATE, mb INT, PERIOD FOR valid(s, e),
                            PRIMARY KEY (box, valid WITHOUT OVERLAPS));
INSERT INTO quota_periods VALUES (1, '2026-01-01', '2026-06-01', 100), (1, '2026-06-01', '2027-01-01', 200);
CREATE TABLE texts (id INT PRIMARY KEY, subject VARCHAR(100), FULLTEXT KEY (subject)) ENGINE=InnoDB;
INSERT INTO texts VALUES (1, 'quarterly report'), (2, 'upgrade to EPOS 14');
CREATE TABLE places (id INT PRIMARY KEY, at POINT NOT NULL, SPATIAL KEY (at)) ENGINE=InnoDB;
INSERT INTO places VALUES (1, ST_GeomFromText('POINT(14.42 50.08)')), (2, ST_GeomFromText('POINT(-0.12 51.5)'));
CREATE TABLE logs (id INT, y INT, PRIMARY KEY (id, y)) PARTITION BY RANGE (y)
  (PARTITION p2025 VALUES LESS THAN (2026), PARTITION p2026 VALUES LESS THAN (2027), PARTITION pmax VALUES LESS THAN MAXVALUE);
INSERT INTO logs VALUES (1, 2025), (2, 2026), (3, 2030);
CREATE TABLE sessions (id INT PRIMARY KEY, who VARCHAR(20)) ENGINE=MEMORY;
INSERT INTO sessions VALUES (1, 'admin');
CREATE TABLE export (id INT NOT NULL, who VARCHAR(20) NOT NULL) ENGINE=CSV;
INSERT INTO export VALUES (1, 'csv row');
CREATE TABLE counter (id INT AUTO_INCREMENT PRIMARY KEY, v INT);
INSERT INTO counter (v) VALUES (1), (2), (3), (4);
DELETE FROM counter WHERE id > 2;
SQL

# state OUT: what mariadb-dump may not show: the invisible column's values, the generated
# columns' values and kinds, the next AUTO_INCREMENT value, the engines.
state() {
  mdb -N -B -e "SELECT id, v, secret FROM kinds.hidden ORDER BY id;
                SELECT id, kb, mb, tag FROM kinds.gen ORDER BY id;
                SELECT COLUMN_NAME, IS_GENERATED, GENERATION_EXPRESSION, EXTRA FROM information_schema.COLUMNS
                  WHERE TABLE_SCHEMA = 'kinds' AND TABLE_NAME IN ('gen', 'hidden') ORDER BY TABLE_NAME, ORDINAL_POSITION;
                SELECT MD5(body), MD5(raw) FROM kinds.packed;
                SELECT box, s, e, mb FROM kinds.quota_periods ORDER BY box, s;
                SELECT id FROM kinds.texts WHERE MATCH(subject) AGAINST('upgrade');
                SELECT id, ST_AsText(at) FROM kinds.places ORDER BY id;
                SELECT PARTITION_NAME, TABLE_ROWS FROM information_schema.PARTITIONS
                  WHERE TABLE_SCHEMA = 'kinds' AND TABLE_NAME = 'logs' ORDER BY PARTITION_ORDINAL_POSITION;
                SELECT * FROM kinds.sessions; SELECT * FROM kinds.export;
                SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'kinds' ORDER BY TABLE_NAME;
                SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'kinds' AND TABLE_NAME = 'counter';" \
    >"$1" || fail "reading the state of kinds"
}
state "$WORK/before.state"
grep -q 'only-here' "$WORK/before.state" || fail "the invisible column holds nothing to lose"
reference_dump "$WORK/before.sql"

backup_drop_restore kinds
state "$WORK/after.state"
compare_files "invisible and generated columns, compressed data, periods, indexes, partitions, engines, AUTO_INCREMENT" \
  "$WORK/before.state" "$WORK/after.state"
reference_dump "$WORK/after.sql"
compare_files "mariadb-dump before and after" "$WORK/before.sql" "$WORK/after.sql"
overlap=$(mariadb --defaults-file="$MDB_CNF" -e "INSERT INTO kinds.quota_periods VALUES (1, '2026-03-01', '2026-04-01', 1)" 2>&1 || :)
[[ $overlap == *"Duplicate entry"* ]] || check_failed "WITHOUT OVERLAPS no longer holds after the restore: ${overlap:-the overlapping row was taken}"
