# A private MariaDB server for tests, from Debian's mariadb-server (no systemd, no shared state).
# Source it, then:
#   mariadb_start DIR       installs a data directory under DIR, starts mariadbd on DIR/sock and
#                           a free loopback port, waits until it answers, writes DIR/my.cnf
#                           ([client]: socket, port, user root, password) and sets MDB_DIR,
#                           MDB_CNF, MDB_SOCK, MDB_PORT, MDB_PID. Real authentication: root has a
#                           password, and it is only in DIR/my.cnf (mode 600).
#   mdb SQL...              runs the stock client against it (mariadb --defaults-file=$MDB_CNF)
#   mariadb_stop [DIR]      stops it (also done by mariadb_stop_all, which callers put in their
#                           EXIT trap; tests/db/lib.sh does)
# Works as root (mariadbd --user=root) and as another user; needs no running system service.
# Several servers may run at once (each in its own DIR).

MDB_SERVERS=()

mariadb_have() {
  command -v mariadbd >/dev/null 2>&1 || [[ -x /usr/sbin/mariadbd ]]
}

_mdb_bin() {
  local b
  for b in "$@"; do
    if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
    if [[ -x /usr/sbin/$b ]]; then echo "/usr/sbin/$b"; return 0; fi
    if [[ -x /usr/bin/$b ]]; then echo "/usr/bin/$b"; return 0; fi
  done
  return 1
}

# A free TCP port on 127.0.0.1 (bind to port 0 and read what the kernel gave).
_mdb_free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# mariadb_start DIR [extra mariadbd options...]
mariadb_start() {
  local dir=$1
  shift
  local mariadbd install_db
  mariadbd=$(_mdb_bin mariadbd mysqld) || { echo "mariadb.sh: no mariadbd" >&2; return 1; }
  install_db=$(_mdb_bin mariadb-install-db mysql_install_db) || { echo "mariadb.sh: no mariadb-install-db" >&2; return 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ -e $dir/data ]]; then
    echo "mariadb.sh: $dir/data exists: give a new directory" >&2
    return 1
  fi
  local user
  user=$(id -un)
  local password
  password="pw-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  # The socket path must stay short (sun_path is 108 bytes).
  local sock="$dir/sock"
  if (( ${#sock} > 100 )); then
    echo "mariadb.sh: socket path too long: $sock" >&2
    return 1
  fi
  # Retried once: on a loaded machine its bootstrap server has been seen to fail now and then.
  local attempt
  for attempt in 1 2 3; do
    mkdir -p "$dir/tmp"
    if TMPDIR="$dir/tmp" "$install_db" --no-defaults --auth-root-authentication-method=normal --datadir="$dir/data" \
      --user="$user" --skip-test-db >"$dir/install.log" 2>&1; then
      break
    fi
    echo "mariadb.sh: mariadb-install-db failed (attempt $attempt of 3):" >&2
    grep -E '\[ERROR\]|error|Error' "$dir/install.log" | head -n 20 >&2
    cp "$dir/install.log" "$dir/install.log.$attempt"
    rm -rf "$dir/data"
    if ((attempt == 3)); then
      head -n 40 "$dir/install.log" >&2
      return 1
    fi
    sleep 1
  done
  local port tries=0
  while :; do
    port=$(_mdb_free_port)
    # Its own tmpdir: internal temporary tables in a /tmp shared with other tests have been
    # seen deleted under a running server.
    mkdir -p "$dir/tmp"
    TMPDIR="$dir/tmp" "$mariadbd" --no-defaults --user="$user" --datadir="$dir/data" --socket="$sock" \
      --tmpdir="$dir/tmp" \
      --port="$port" --bind-address=127.0.0.1 --pid-file="$dir/mariadbd.pid" \
      --log-error="$dir/error.log" --innodb-buffer-pool-size=256M --innodb-log-file-size=64M \
      --max-allowed-packet=64M --skip-name-resolve --character-set-server=utf8mb4 \
      --collation-server=utf8mb4_general_ci "$@" >"$dir/stdout.log" 2>&1 &
    local pid=$!
    # Wait until it answers on the socket (as root through unix_socket... no: real password
    # below, so a plain ping over the socket as the OS user is enough to know it is up).
    local i
    for ((i = 0; i < 600; i++)); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if [[ -S $sock ]] && mariadb-admin --no-defaults --socket="$sock" --user=root ping >/dev/null 2>&1; then
        break
      fi
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null && [[ -S $sock ]]; then break; fi
    wait "$pid" 2>/dev/null || :
    tries=$((tries + 1))
    if ((tries >= 3)) || ! grep -q "Address already in use\|Can't start server: Bind" "$dir/error.log"; then
      echo "mariadb.sh: mariadbd did not start:" >&2
      tail -n 30 "$dir/error.log" >&2
      return 1
    fi
  done
  # Give root a password (the fresh data directory has none: auth-root-authentication-method=normal).
  mariadb --no-defaults --socket="$sock" --user=root -e \
    "ALTER USER 'root'@'localhost' IDENTIFIED BY '$password';
     CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '$password';
     GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
     FLUSH PRIVILEGES;" || {
    echo "mariadb.sh: could not set the root password" >&2
    kill "$pid"
    return 1
  }
  umask_old=$(umask)
  umask 077
  cat >"$dir/my.cnf" <<CNF
[client]
socket=$sock
port=$port
user=root
password=$password
CNF
  umask "$umask_old"
  MDB_DIR=$dir
  MDB_CNF=$dir/my.cnf
  MDB_SOCK=$sock
  MDB_PORT=$port
  MDB_PID=$pid
  MDB_SERVERS+=("$dir:$pid")
  return 0
}

# mdb [mariadb options...]: the stock client on the last started server.
mdb() { mariadb --defaults-file="$MDB_CNF" "$@"; }

# mariadb_stop [DIR]: stops the server of DIR (default: the last started) and waits for it.
mariadb_stop() {
  local dir=${1:-$MDB_DIR} entry pid
  local keep=()
  for entry in "${MDB_SERVERS[@]}"; do
    if [[ ${entry%%:*} == "$dir" ]]; then
      pid=${entry##*:}
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || :
        local i
        for ((i = 0; i < 300; i++)); do
          kill -0 "$pid" 2>/dev/null || break
          sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || :
        wait "$pid" 2>/dev/null || :
      fi
    else
      keep+=("$entry")
    fi
  done
  MDB_SERVERS=("${keep[@]}")
}

mariadb_stop_all() {
  local entry
  for entry in "${MDB_SERVERS[@]}"; do mariadb_stop "${entry%%:*}"; done
}
