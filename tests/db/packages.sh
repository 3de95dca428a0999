#!/usr/bin/env bash
# Stored packages (MariaDB's CREATE PACKAGE and CREATE PACKAGE BODY, sql_mode=ORACLE) are
# routines of their database like functions and procedures. A restore (and a rollback) drops
# each database and loads it again: a package the dump left out is gone afterwards, and with
# it every function the applications call through it. Judged by the server itself: the
# definitions (SHOW CREATE PACKAGE / PACKAGE BODY, sql_mode included) before and after, a call
# through the package, and mariadb-dump of the rest.
source "$(dirname "$0")/lib.sh" "$@"
FIXTURE_DBS=(app)

start_server s1
mdb <<'SQL' || fail "setup"
CREATE DATABASE app;
CREATE TABLE app.mailbox (id INT PRIMARY KEY, used_kb INT);
INSERT INTO app.mailbox VALUES (1, 1500), (2, 250);
CREATE FUNCTION app.plain() RETURNS INT DETERMINISTIC RETURN 7;
SET sql_mode=ORACLE;
DELIMITER $$
CREATE PACKAGE app.quota AS
  FUNCTION used_mb(box INT) RETURN INT;
  PROCEDURE reset_box(box INT);
END;
$$
CREATE PACKAGE BODY app.quota AS
  -- a comment inside the body; and a semicolon in a string: ';'
  FUNCTION used_mb(box INT) RETURN INT AS
    kb INT;
  BEGIN
    SELECT used_kb INTO kb FROM app.mailbox WHERE id = box;
    RETURN kb DIV 1000;
  END;
  PROCEDURE reset_box(box INT) AS
  BEGIN
    UPDATE app.mailbox SET used_kb = 0 WHERE id = box;
  END;
END;
$$
CREATE PACKAGE app.spec_only AS
  FUNCTION later RETURN INT;
END;
$$
DELIMITER ;
SQL

# definitions OUT: every routine of app (type, name, sql_mode, body) as the server shows it.
definitions() {
  local out=$1 type name
  : >"$out"
  while IFS=$'\t' read -r type name; do
    [[ -z $type ]] && continue
    printf '== %s %s\n' "$type" "$name" >>"$out"
    # SHOW CREATE: name, sql_mode, the definition, character set, collation, database collation
    mdb -N -B -e "SHOW CREATE $type app.\`$name\`" >>"$out" || fail "SHOW CREATE $type app.$name"
  done < <(mdb -N -B -e "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES
                         WHERE ROUTINE_SCHEMA = 'app' ORDER BY ROUTINE_TYPE, ROUTINE_NAME")
}
call_package() { mdb -N -B -e "SET sql_mode=ORACLE; SELECT app.quota.used_mb(1) FROM DUAL"; }

definitions "$WORK/before.def"
grep -c '^== ' "$WORK/before.def" | grep -qx 4 || fail "expected 4 routines (function, 2 packages, 1 body): $(grep '^== ' "$WORK/before.def")"
[[ $(call_package) == 1 ]] || fail "the package does not answer before the backup"
reference_dump "$WORK/before.sql"

backup_drop_restore app
definitions "$WORK/after.def"
compare_files "the routines of app (SHOW CREATE, packages included) before and after" "$WORK/before.def" "$WORK/after.def"
got=$(call_package 2>&1) || got="(error) $got"
[[ $got == 1 ]] || check_failed "a call through the package after the restore: $got"
reference_dump "$WORK/after.sql"
compare_files "mariadb-dump before and after" "$WORK/before.sql" "$WORK/after.sql"

step "the same through rollback --databases-only, after an upgrade that changed the package"
mdb <<'SQL' || fail "upgrade"
SET sql_mode=ORACLE;
DELIMITER $$
CREATE OR REPLACE PACKAGE BODY app.quota AS
  FUNCTION used_mb(box INT) RETURN INT AS BEGIN RETURN -1; END;
  PROCEDURE reset_box(box INT) AS BEGIN NULL; END;
END;
$$
DELIMITER ;
DROP PACKAGE app.spec_only;
SQL
[[ $(call_package) == -1 ]] || fail "the upgrade did not change the package"
expect_rc 0 "$REWIND" rollback --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF" \
  --no-safety-snapshot --yes
definitions "$WORK/rolled.def"
compare_files "the routines of app before the upgrade and after the rollback" "$WORK/before.def" "$WORK/rolled.def"
got=$(call_package 2>&1) || got="(error) $got"
[[ $got == 1 ]] || check_failed "a call through the package after the rollback: $got"

step "rewind dump --db app, loaded by the stock client: the packages come back too"
expect_rc 0 "$REWIND" dump --repo "$REPO" "$SNAP" --db app
cp "$WORK/last.out" "$WORK/app.sql"
grep -q 'PACKAGE BODY' "$WORK/app.sql" || check_failed "rewind dump --db app holds no PACKAGE BODY"
mdb -e "DROP DATABASE app" || fail "drop"
mdb -e "CREATE DATABASE app" || fail "create"
mdb app <"$WORK/app.sql" || check_failed "the stock client does not load rewind dump --db app"
definitions "$WORK/client.def"
compare_files "the routines of app before the backup and after the stock client loaded the dump" \
  "$WORK/before.def" "$WORK/client.def"

step "a database owner restores its own package, procedure and trigger made under ORACLE (definers in double quotes)"
make_owner
mariadb --defaults-file="$WORK/owner.cnf" <<'SQL' || fail "the owner's package"
SET sql_mode=ORACLE;
DELIMITER $$
CREATE PACKAGE own.tools AS FUNCTION two RETURN INT; END;
$$
CREATE PACKAGE BODY own.tools AS FUNCTION two RETURN INT AS BEGIN RETURN 2; END; END;
$$
CREATE TABLE own.t (id INT PRIMARY KEY, v INT)$$
CREATE PROCEDURE own.bump AS BEGIN UPDATE own.t SET v = v + 1; END;
$$
CREATE TRIGGER own.tr BEFORE INSERT ON own.t FOR EACH ROW BEGIN :NEW.v := NVL(:NEW.v, 0); END;
$$
DELIMITER ;
SQL
# The procedure and the trigger, made under ORACLE too, have their definer in double quotes.
own_defs() {
  mdb -N -B -e "SHOW CREATE PACKAGE own.tools; SHOW CREATE PACKAGE BODY own.tools; SHOW CREATE PROCEDURE own.bump;
                SELECT TRIGGER_NAME, SQL_MODE, DEFINER, ACTION_STATEMENT FROM information_schema.TRIGGERS
                WHERE TRIGGER_SCHEMA = 'own'"
}
own_defs >"$WORK/own-before.def"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$MDB_CNF"
OWN_SNAP=$(last_line)
mdb -e "DROP DATABASE own" || fail "drop own"
mdb -e "CREATE DATABASE own" || fail "create own"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$OWN_SNAP" --databases-only --db own --mysql-defaults-file "$WORK/owner.cnf"
own_defs >"$WORK/own-after.def"
compare_files "the owner's package, procedure and trigger before and after its restore" "$WORK/own-before.def" "$WORK/own-after.def"
