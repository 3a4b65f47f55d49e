#!/usr/bin/env bash
# Interop: reachd's Telnet check against a real inetutils telnetd (Debian
# inetutils-telnetd), started per connection by inetutils-inetd on loopback
# ports. Needs root (inetd runs telnetd as root, useradd). Run by .ci/run
# after `cargo build`; installs nothing itself.
#
#   sudo bash tests/interop/telnet.sh
#
# Cases: telnetd + /bin/login for a test user: up (platform linux) on the
# right password, auth_failed on a wrong one; telnetd -E with a small
# scripted IOS-like CLI (Username:, Password:, R9>, enable, Password:, R9#):
# up through enable, enable_failed on a wrong enable password.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
cd "$ROOT"

INETD=/usr/sbin/inetutils-inetd
TELNETD=/usr/sbin/telnetd
USER_NAME=reachdtel$$

if [ "$(id -u)" -ne 0 ]; then
  echo "tests/interop/telnet.sh needs root (telnetd, useradd)"
  exit 1
fi
need /usr/sbin/inetutils-inetd /usr/sbin/telnetd jq useradd chpasswd userdel
need_reachd

D=$WORK
chmod 755 "$D"
trap 'userdel -r "$USER_NAME" >/dev/null 2>&1 || true; cleanup' EXIT

start_inetd() { # name port telnetd-args…
  local name=$1 port=$2
  shift 2
  echo "127.0.0.1:$port stream tcp nowait root $TELNETD telnetd $*" > "$D/$name.conf"
  "$INETD" -d --pidfile="$D/$name.pid" "$D/$name.conf" > "$D/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "inetd ($name) did not listen on 127.0.0.1:$port"; cat "$D/$name.log"; exit 1
}

# The test user, with a password, logging in through /bin/login.
PASSWORD="pw-$RANDOM-$RANDOM-$$"
useradd -m -s /bin/bash "$USER_NAME"
echo "$USER_NAME:$PASSWORD" | chpasswd

# The scripted IOS-like CLI telnetd runs instead of /bin/login.
IOS_PASSWORD="ios-$RANDOM-$$"
IOS_ENABLE="en-$RANDOM-$$"
cat > "$D/ios-cli" <<EOF
#!/bin/bash
# A small IOS-like CLI for telnetd -E (instead of /bin/login).
USER_OK=netops PASS_OK='$IOS_PASSWORD' ENABLE_OK='$IOS_ENABLE'
EOF
cat >> "$D/ios-cli" <<'EOF'
rd() { IFS= read -r "$@" || exit 0; }
printf '\nUser Access Verification\n\nUsername: '
rd user; user=${user%$'\r'}
printf 'Password: '
rd -s pass; pass=${pass%$'\r'}
printf '\n'
if [ "$user" != "$USER_OK" ] || [ "$pass" != "$PASS_OK" ]; then
  printf '%% Authentication failed\n'; exit 0
fi
mode='>'
while printf 'R9%s' "$mode"; do
  rd line; line=${line%$'\r'}
  case "$line" in
    enable)
      printf 'Password: '; rd -s s; s=${s%$'\r'}; printf '\n'
      if [ "$s" = "$ENABLE_OK" ]; then mode='#'; else printf '%% Bad secrets\n\n'; fi ;;
    'terminal length 0'|'') ;;
    exit|logout) exit 0 ;;
    *) printf '%% Invalid input detected\n' ;;
  esac
done
EOF
chmod 755 "$D/ios-cli"

P_LOGIN=$(free_port)
start_inetd login "$P_LOGIN"
P_IOS=$(free_port)
while [ "$P_IOS" = "$P_LOGIN" ]; do P_IOS=$(free_port); done
start_inetd ios "$P_IOS" -E "$D/ios-cli"

cat > "$D/devices.yaml" <<EOF
- name: linux-login
  address: 127.0.0.1
  checks: [telnet]
  platform: linux
  username: $USER_NAME
  password: "$PASSWORD"
  telnet: {port: $P_LOGIN, read_timeout: 10s, timeout: 25s}
- name: linux-wrong
  address: 127.0.0.1
  checks: [telnet]
  platform: linux
  username: $USER_NAME
  password: "wrong-$PASSWORD"
  telnet: {port: $P_LOGIN, read_timeout: 10s, timeout: 25s}
- name: ios-enable
  address: 127.0.0.1
  checks: [telnet]
  platform: cisco_iosxe
  username: netops
  password: "$IOS_PASSWORD"
  secondary: "$IOS_ENABLE"
  telnet: {port: $P_IOS, read_timeout: 10s, timeout: 25s}
- name: ios-wrong-enable
  address: 127.0.0.1
  checks: [telnet]
  platform: cisco_iosxe
  username: netops
  password: "$IOS_PASSWORD"
  secondary: "wrong-$IOS_ENABLE"
  telnet: {port: $P_IOS, read_timeout: 10s, timeout: 25s}
EOF

CHECK_ARGS=(--inventory "$D/devices.yaml")
SECRETS=("$PASSWORD" "$IOS_PASSWORD" "$IOS_ENABLE")
expect() { expect_verdict telnet "$@"; } # device reason phase [jq condition]

expect linux-login ok prompt ".prompt | test(\"$USER_NAME\")"
expect linux-wrong auth_failed auth '.detail | test("Login incorrect")'
expect ios-enable ok enable '.prompt == "R9#"'
expect ios-wrong-enable enable_failed enable '.detail | test("Bad secrets")'

summary
