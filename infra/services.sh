#!/usr/bin/env bash
# Make PostgreSQL (15+) and Redis (7) available for Retrace's tests, demo and local runs.
#
#   bash infra/services.sh          # or: npm run services
#   . infra/services.sh             # from another bash script; also exports the URL defaults
#
# Targets come from DATABASE_URL (default postgres://postgres@127.0.0.1:5432/retrace) and
# REDIS_URL (default redis://127.0.0.1:6379). For each one that does not answer:
#   1. a local target (127.0.0.1, localhost, ::1, a socket dir) is started from the locally
#      installed server: PostgreSQL via pg_ctlcluster (creating a cluster if there is none),
#      Redis via redis-server --daemonize with nothing kept on disk;
#   2. if the server is not installed and we are root with apt-get, it is installed first;
#   3. otherwise we stop with exit 1 and the ways out (install, Docker, other URLs).
# Silent when both already answer; progress goes to stderr, never stdout.
# SERVICES_WAIT_SECONDS (default 30) bounds the wait for a started server to answer.

_retrace_services() (
  set -euo pipefail

  db_url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/retrace}
  redis_url=${REDIS_URL:-redis://127.0.0.1:6379}
  wait_seconds=${SERVICES_WAIT_SECONDS:-30}

  say() { printf 'services.sh: %s\n' "$*" >&2; }
  die() {
    printf 'services.sh: %s\n' "$1" >&2
    shift
    if (($#)); then printf '%s\n' "$@" | sed 's/^/  /' >&2; fi
    exit 1
  }

  # host:port for messages, with brackets around an IPv6 address.
  at() {
    if [[ $1 == *:* ]]; then printf '[%s]:%s' "$1" "$2"; else printf '%s:%s' "$1" "$2"; fi
  }

  # The ways out, for messages that end with "you need to do something".
  options=(
    "Options:"
    "  - install them (Debian/Ubuntu): sudo apt-get install postgresql redis-server"
    "    (PostgreSQL 15+ and Redis 7; as root this script installs them itself), then run it again;"
    "  - run them in Docker, from the repo root: docker compose -f infra/docker-compose.yml up -d"
    "  - point DATABASE_URL / REDIS_URL at servers that are running."
  )

  # Sets url_scheme, url_host and url_port from URL $1 (named $2 in messages; the URL itself may
  # hold a password, so it is never printed). $3 is the default port.
  parse_url() {
    local url=$1 name=$2 rest hostport
    [[ $url == *://* ]] || die "cannot read $name: expected scheme://[user[:password]@]host[:port][/...]"
    url_scheme=${url%%://*}
    rest=${url#*://}
    hostport=${rest%%[/?#]*}
    hostport=${hostport##*@}
    if [[ $hostport == \[* ]]; then # [ipv6]:port
      url_host=${hostport#\[}
      url_host=${url_host%%\]*}
      url_port=${hostport#*\]}
      url_port=${url_port#:}
    elif [[ $hostport == *:* ]]; then
      url_host=${hostport%%:*}
      url_port=${hostport#*:}
    else
      url_host=$hostport
      url_port=
    fi
    url_host=${url_host//%2[Ff]//} # postgres://%2Fvar%2Frun%2Fpostgresql/db: a socket directory
    url_host=${url_host:-localhost} # node-pg and ioredis treat an empty host as localhost
    url_port=${url_port:-$3}
    [[ $url_port =~ ^[0-9]+$ ]] || die "cannot read the port in $name"
  }

  is_local() {
    case $1 in
    127.0.0.1 | localhost | ::1 | /*) return 0 ;;
    *) return 1 ;;
    esac
  }

  have() { command -v "$1" >/dev/null 2>&1; }

  # Runs "$@" with a time limit when coreutils' timeout is there, so a black-holed host can't hang us.
  limited() {
    if have timeout; then timeout "$@"; else shift && "$@"; fi
  }

  tcp_open() {
    # shellcheck disable=SC2016 # $1 and $2 belong to the inner bash
    limited 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
  }

  pg_up() {
    if have pg_isready; then
      pg_isready -q -t 3 -h "$pg_host" -p "$pg_port" 2>/dev/null
    elif [[ $pg_host == /* ]]; then
      [[ -S $pg_host/.s.PGSQL.$pg_port ]]
    else
      tcp_open "$pg_host" "$pg_port"
    fi
  }

  redis_up() {
    local reply
    if [[ $redis_scheme == redis ]] && have redis-cli; then
      reply=$(limited 5 redis-cli -h "$redis_host" -p "$redis_port" ping 2>&1) || true
      # A server that wants a password still answers, and that is all we check here.
      [[ $reply == PONG || $reply == *NOAUTH* || $reply == *WRONGPASS* ]]
    else
      tcp_open "$redis_host" "$redis_port" # rediss:// (TLS), or no redis-cli
    fi
  }

  # wait_for NAME PROBE SECONDS: true once PROBE succeeds, false after SECONDS.
  wait_for() {
    local deadline=$((SECONDS + $3))
    until "$2"; do
      ((SECONDS < deadline)) || return 1
      sleep 0.5
    done
  }

  # The newest PostgreSQL server of version 15 or later installed from Debian's packages, or "".
  pg_server_version() {
    local bin ver best=""
    for bin in /usr/lib/postgresql/*/bin/postgres; do
      [[ -x $bin ]] || continue
      ver=${bin#/usr/lib/postgresql/}
      ver=${ver%%/*}
      if [[ $ver =~ ^[0-9]+$ ]] && ((ver >= 15)) && [[ -z $best || $ver -gt $best ]]; then
        best=$ver
      fi
    done
    printf '%s' "$best"
  }

  pg_installed() {
    have pg_ctlcluster && [[ -n $(pg_server_version) ]]
  }

  # Clusters of version 15+, one per line: "version name port status logfile".
  pg_clusters() {
    have pg_lsclusters || return 0
    pg_lsclusters -h 2>/dev/null | awk '$1 + 0 >= 15 { print $1, $2, $3, $4, $7 }'
  }

  # A fresh Debian cluster has peer auth on the socket and passwords over TCP; Retrace connects
  # over TCP as postgres without one. Only ever done to a cluster this script installed or created.
  pg_trust_loopback() {
    local hba=/etc/postgresql/$1/$2/pg_hba.conf marker='# Added by Retrace infra/services.sh' tmp
    [[ -f $hba ]] || die "cannot find $hba to allow passwordless connections from 127.0.0.1"
    grep -qF "$marker" "$hba" && return 0
    say "allowing passwordless (trust) TCP connections from 127.0.0.1 and ::1 in $hba"
    tmp=$(mktemp) || die "mktemp failed"
    {
      printf '%s: local development and tests connect over TCP without a password.\n' "$marker"
      printf 'host    all             all             127.0.0.1/32            trust\n'
      printf 'host    all             all             ::1/128                 trust\n\n'
      cat "$hba"
    } >"$tmp" || die "cannot write $tmp"
    # First match wins in pg_hba.conf, so our lines go on top; cat keeps the file's owner and mode.
    cat "$tmp" >"$hba" || die "cannot write $hba"
    rm -f "$tmp"
  }

  # $1 = 1 when this run installed PostgreSQL, so the cluster it brought is ours to configure.
  ensure_postgres() {
    local ours=$1 ver="" name="" port status="" log="" line clusters out rc
    clusters=$(pg_clusters)
    while read -r line; do
      read -r _ _ port _ _ <<<"$line"
      if [[ $port == "$pg_port" ]]; then
        read -r ver name port status log <<<"$line"
        break
      fi
    done <<<"$clusters"

    if [[ -z $ver ]]; then
      if [[ -n $clusters ]]; then
        die "no PostgreSQL 15+ cluster is set up for port $pg_port (DATABASE_URL); clusters found:" \
          "$(pg_lsclusters 2>/dev/null)" \
          "Start one with: pg_ctlcluster --skip-systemctl-redirect <version> <name> start," \
          "and set DATABASE_URL's port to match it."
      fi
      ver=$(pg_server_version)
      name=main
      say "creating PostgreSQL cluster $ver/$name on port $pg_port"
      out=$(pg_createcluster --port "$pg_port" "$ver" "$name" 2>&1) ||
        die "pg_createcluster $ver $name failed:" "$out"
      ours=1
      read -r _ _ _ status log < <(pg_clusters | awk -v v="$ver" -v n="$name" '$1 == v && $2 == n') || true
      status=${status:-down}
    fi

    if ((ours)); then
      pg_trust_loopback "$ver" "$name"
      if [[ $status == online* ]]; then
        pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload >&2 ||
          die "pg_ctlcluster $ver $name reload failed"
      fi
    fi

    # Already running yet not answering is a setup problem, not a slow start: don't wait long.
    local wait=$wait_seconds
    if [[ $status == online* ]] && ((wait > 10)); then wait=10; fi

    if [[ $status != online* ]]; then
      say "starting PostgreSQL $ver/$name on port $pg_port"
      rc=0
      out=$(pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start 2>&1) || rc=$?
      # Another run may have started it meanwhile ("already running"): give it a moment before failing.
      if ((rc != 0)) && ! wait_for PostgreSQL pg_up 5; then
        die "could not start PostgreSQL $ver/$name (pg_ctlcluster exit $rc):" "$out" \
          "Last lines of ${log:-its log}:" "$(tail -n 15 "$log" 2>/dev/null)"
      fi
    fi

    if ! wait_for PostgreSQL pg_up "$wait"; then
      die "PostgreSQL $ver/$name does not answer at $(at "$pg_host" "$pg_port") after ${wait}s." \
        "Check its listen_addresses and port in /etc/postgresql/$ver/$name/postgresql.conf." \
        "Last lines of ${log:-its log}:" "$(tail -n 15 "$log" 2>/dev/null)"
    fi
    say "PostgreSQL $ver/$name is up at $(at "$pg_host" "$pg_port")"
  }

  ensure_redis() {
    local dir logdir log version
    version=$(redis-server --version 2>/dev/null | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p')
    if [[ -n $version && ${version%%.*} -lt 7 ]]; then
      say "warning: redis-server $version is installed; Retrace is tested with Redis 7"
    fi
    # Nothing is saved (--save "", no AOF), but redis-server still wants a working dir and a log.
    dir=/var/lib/redis
    if [[ ! -d $dir || ! -w $dir ]]; then
      dir=${TMPDIR:-/tmp}/retrace-redis-$(id -u)
      mkdir -p "$dir" || die "cannot create $dir for redis-server"
    fi
    logdir=/var/log/redis
    [[ -d $logdir && -w $logdir ]] || logdir=$dir
    log=$logdir/redis-$redis_port.log

    say "starting redis-server on port $redis_port (log: $log)"
    # With --daemonize the parent returns before the child binds, so losing a race with another
    # run just leaves that run's server answering; the wait below is what decides.
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$redis_port" \
      --save "" --appendonly no --dir "$dir" --logfile "$log" >&2 ||
      die "redis-server did not start; last lines of $log:" "$(tail -n 15 "$log" 2>/dev/null)"
    if ! wait_for Redis redis_up "$wait_seconds"; then
      die "Redis does not answer at $(at "$redis_host" "$redis_port") after ${wait_seconds}s; last lines of $log:" \
        "$(tail -n 15 "$log" 2>/dev/null)"
    fi
    say "Redis is up at $(at "$redis_host" "$redis_port")"
  }

  parse_url "$db_url" DATABASE_URL 5432
  case $url_scheme in
  postgres | postgresql) ;;
  *) die "DATABASE_URL must start with postgres:// or postgresql://" ;;
  esac
  pg_host=$url_host pg_port=$url_port

  parse_url "$redis_url" REDIS_URL 6379
  case $url_scheme in
  redis | rediss) ;;
  *) die "REDIS_URL must start with redis:// or rediss://" ;;
  esac
  redis_scheme=$url_scheme redis_host=$url_host redis_port=$url_port

  pg_ok=0 redis_ok=0
  if pg_up; then pg_ok=1; fi
  if redis_up; then redis_ok=1; fi
  if ((pg_ok && redis_ok)); then exit 0; fi

  # A server on another machine is not ours to start.
  remote=()
  if ((!pg_ok)) && ! is_local "$pg_host"; then
    remote+=("PostgreSQL does not answer at $(at "$pg_host" "$pg_port") (DATABASE_URL).")
  fi
  if ((!redis_ok)) && ! is_local "$redis_host"; then
    remote+=("Redis does not answer at $(at "$redis_host" "$redis_port") (REDIS_URL).")
  fi
  if ((${#remote[@]})); then
    die "${remote[0]}" "${remote[@]:1}" \
      "That host is not this machine, so this script cannot start it: start it there, or" \
      "${options[@]:1}"
  fi

  missing=()
  if ((!pg_ok)) && ! pg_installed; then missing+=(postgresql); fi
  if ((!redis_ok)) && ! have redis-server; then missing+=(redis-server); fi

  pg_installed_now=0
  if ((${#missing[@]})); then
    if ((EUID == 0)) && have apt-get; then
      say "installing ${missing[*]} with apt-get"
      apt-get -q update >&2 || die "apt-get update failed"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 ||
        die "apt-get install ${missing[*]} failed"
      if [[ " ${missing[*]} " == *" postgresql "* ]]; then
        pg_installed_now=1
        pg_installed || die "apt-get installed postgresql, but no PostgreSQL 15+ server:" \
          "this distribution's version is too old." "${options[@]:3}"
      fi
      # Debian's maintainer scripts may have started what they installed.
      if ((!redis_ok)) && redis_up; then redis_ok=1; fi
    else
      need=()
      if [[ " ${missing[*]} " == *" postgresql "* ]]; then
        need+=("PostgreSQL 15+ does not answer at $(at "$pg_host" "$pg_port") and is not installed here.")
      fi
      if [[ " ${missing[*]} " == *" redis-server "* ]]; then
        need+=("Redis does not answer at $(at "$redis_host" "$redis_port") and redis-server is not installed here.")
      fi
      die "${need[0]}" "${need[@]:1}" "${options[@]}"
    fi
  fi

  # A cluster we just installed needs its pg_hba.conf set even if its package already started it.
  if ((!pg_ok || pg_installed_now)); then ensure_postgres "$pg_installed_now"; fi
  if ((!redis_ok)); then ensure_redis; fi
)

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  _retrace_services
else
  # Sourced: the caller gets the same defaults this script used.
  export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/retrace}"
  export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
  _retrace_services
  _retrace_services_rc=$?
  unset -f _retrace_services
  return "$_retrace_services_rc"
fi
