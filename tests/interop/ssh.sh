#!/usr/bin/env bash
# Interop: reachd's SSH check against a real OpenSSH sshd (Debian
# openssh-server) on loopback. Needs root (sshd, useradd). Run by .ci/run
# after `cargo build`; installs nothing itself.
#
#   sudo bash tests/interop/ssh.sh
#
# Cases: password login (strict known_hosts), wrong password, a host key
# that does not match known_hosts, accept-new recording, public-key login
# (plain and passphrase-protected key), a command with expected output, and
# an sshd restricted to legacy algorithms (handshake without reachd's legacy
# set, up with it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
cd "$ROOT"

SSHD=/usr/sbin/sshd
USER_NAME=reachdtest$$

if [ "$(id -u)" -ne 0 ]; then
  echo "tests/interop/ssh.sh needs root (sshd, useradd)"
  exit 1
fi
need /usr/sbin/sshd ssh-keygen jq useradd chpasswd
need_reachd

D=$WORK
chmod 755 "$D"
trap 'userdel -r "$USER_NAME" >/dev/null 2>&1 || true; cleanup' EXIT

# The test user, with a password and two authorized keys.
PASSWORD="pw-$RANDOM-$RANDOM-$$"
useradd -m -s /bin/sh "$USER_NAME"
echo "$USER_NAME:$PASSWORD" | chpasswd
HOME_DIR=$(getent passwd "$USER_NAME" | cut -d: -f6)
mkdir -p "$HOME_DIR/.ssh"
ssh-keygen -q -t ed25519 -N "" -f "$D/id_plain" -C reachd-interop
KEY_PASSPHRASE="kp-$RANDOM-$RANDOM-$$"
ssh-keygen -q -t ed25519 -N "$KEY_PASSPHRASE" -f "$D/id_locked" -C reachd-interop-locked
cat "$D/id_plain.pub" "$D/id_locked.pub" > "$HOME_DIR/.ssh/authorized_keys"
chown -R "$USER_NAME:" "$HOME_DIR/.ssh"
chmod 700 "$HOME_DIR/.ssh"
chmod 600 "$HOME_DIR/.ssh/authorized_keys"

# Host keys of our own.
ssh-keygen -q -t ed25519 -N "" -f "$D/host_ed25519"
ssh-keygen -q -t rsa -b 2048 -N "" -f "$D/host_rsa"
mkdir -p /run/sshd

write_sshd_config() { # file port extra…
  local f=$1 port=$2
  shift 2
  {
    echo "Port $port"
    echo "ListenAddress 127.0.0.1"
    echo "PidFile none"
    echo "UsePAM no"
    echo "PasswordAuthentication yes"
    echo "KbdInteractiveAuthentication no"
    echo "PubkeyAuthentication yes"
    echo "AuthorizedKeysFile .ssh/authorized_keys"
    echo "PermitRootLogin no"
    echo "AllowUsers $USER_NAME"
    echo "PrintMotd no"
    echo "PrintLastLog no"
    echo "MaxStartups 100"
    echo "LogLevel VERBOSE"
    printf '%s\n' "$@"
  } > "$f"
}

start_sshd() { # config port log
  "$SSHD" -D -e -f "$1" -p "$2" 2>>"$3" &
  PIDS+=($!)
  for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "sshd on port $2 did not start:"
  cat "$3"
  exit 1
}

P_MODERN=$(free_port)
write_sshd_config "$D/modern.conf" "$P_MODERN" "HostKey $D/host_ed25519"
start_sshd "$D/modern.conf" "$P_MODERN" "$D/modern.log"

P_LEGACY=$(free_port)
while [ "$P_LEGACY" = "$P_MODERN" ]; do P_LEGACY=$(free_port); done
write_sshd_config "$D/legacy.conf" "$P_LEGACY" \
  "HostKey $D/host_rsa" \
  "KexAlgorithms diffie-hellman-group14-sha1" \
  "Ciphers aes128-cbc" \
  "MACs hmac-sha1" \
  "HostKeyAlgorithms ssh-rsa"
start_sshd "$D/legacy.conf" "$P_LEGACY" "$D/legacy.log"

# known_hosts for strict checking: the right key, and a wrong one.
echo "[127.0.0.1]:$P_MODERN $(cat "$D/host_ed25519.pub")" > "$D/known_hosts"
ssh-keygen -q -t ed25519 -N "" -f "$D/other_host_key"
echo "[127.0.0.1]:$P_MODERN $(cat "$D/other_host_key.pub")" > "$D/wrong_known_hosts"
printf '%s\n' "$PASSWORD" > "$D/password"
chmod 600 "$D/password"

cat > "$D/reachd.yaml" <<EOF
state_dir: $D/state
defaults:
  ssh:
    timeout: 15s
    read_timeout: 5s
profiles:
  sshd:
    username: $USER_NAME
    password: {file: $D/password}
    platform: linux
    checks: [ssh]
devices:
  - name: password-strict
    address: 127.0.0.1
    profile: sshd
    ssh: {port: $P_MODERN, host_key: strict, known_hosts: $D/known_hosts}
  - name: wrong-password
    address: 127.0.0.1
    profile: sshd
    password: not-the-password
    ssh: {port: $P_MODERN, host_key: "off"}
  - name: changed-host-key
    address: 127.0.0.1
    profile: sshd
    ssh: {port: $P_MODERN, host_key: strict, known_hosts: $D/wrong_known_hosts}
  - name: accept-new
    address: 127.0.0.1
    profile: sshd
    ssh: {port: $P_MODERN, host_key: accept-new}
  - name: publickey
    address: 127.0.0.1
    profile: sshd
    password: not-the-password
    private_key: $D/id_plain
    ssh: {port: $P_MODERN, host_key: "off"}
  - name: publickey-passphrase
    address: 127.0.0.1
    profile: sshd
    password: not-the-password
    private_key: $D/id_locked
    private_key_passphrase: "$KEY_PASSPHRASE"
    ssh: {port: $P_MODERN, host_key: "off"}
  - name: command
    address: 127.0.0.1
    profile: sshd
    ssh:
      port: $P_MODERN
      host_key: "off"
      command: "echo reachd-\$((40+2))"
      expect: "reachd-42"
  - name: legacy-default
    address: 127.0.0.1
    profile: sshd
    ssh: {port: $P_LEGACY, host_key: "off"}
  - name: legacy-enabled
    address: 127.0.0.1
    profile: sshd
    ssh:
      port: $P_LEGACY
      host_key: "off"
      kex: "+diffie-hellman-group14-sha1"
      ciphers: "+aes128-cbc"
      macs: "+hmac-sha1"
      host_key_algorithms: "+ssh-rsa"
EOF

"$REACHD" validate --config "$D/reachd.yaml" >/dev/null

CHECK_ARGS=(--config "$D/reachd.yaml")
SECRETS=("$PASSWORD" "$KEY_PASSPHRASE")
expect() { expect_verdict ssh "$@"; } # device reason phase [jq condition]

expect password-strict ok prompt '.prompt | test("\\$")'
expect wrong-password auth_failed auth
expect changed-host-key host_key_changed handshake '.detail | test("SHA256:")'
expect accept-new ok prompt
check "accept-new recorded the key in state_dir/known_hosts" \
  grep -qF "[127.0.0.1]:$P_MODERN ssh-ed25519" "$D/state/known_hosts"
expect accept-new ok prompt
expect publickey ok prompt
expect publickey-passphrase ok prompt
expect command ok command
expect legacy-default handshake handshake '.detail | test("diffie-hellman-group14-sha1")'
expect legacy-enabled ok prompt

if [ "$fail" -ne 0 ]; then
  echo "--- sshd logs"
  tail -n 30 "$D/modern.log" "$D/legacy.log" || true
fi
summary
