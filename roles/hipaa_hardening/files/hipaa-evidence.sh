#!/usr/bin/env bash
# Evidence for the hipaa_hardening compliance report. Reads the live system, changes nothing,
# prints key=value lines. Parameters come from the environment (HIPAA_*), set by the role.
set -u
export LC_ALL=C
kv() { printf '%s=%s\n' "$1" "$(printf '%s' "$2" | tr -d '"\\\n\r' | tr '\t' ' ')"; }
has() { command -v "$1" >/dev/null 2>&1; }
active() { systemctl is-active "$1" 2>/dev/null | head -1; }

kv virt_container "$(systemd-detect-virt -c 2>/dev/null || true)"

# (a) access control
kv uid0_extra "$(awk -F: '$3 == 0 && $1 != "root" {print $1}' /etc/passwd | paste -sd, -)"
kv dup_uids "$(cut -d: -f3 /etc/passwd | sort | uniq -d | wc -l)"
kv empty_passwords "$(awk -F: '$2 == "" {print $1}' /etc/shadow 2>/dev/null | wc -l)"
kv sudoers_group "$(grep -Ecs "^%${HIPAA_ADMIN_GROUP:-none}[[:space:]]+ALL=" /etc/sudoers.d/50-hipaa)"
kv sudoers_valid "$(visudo -c >/dev/null 2>&1 && echo 1 || echo 0)"
kv umask_logindefs "$(awk '$1 == "UMASK" {print $2}' /etc/login.defs)"
kv umask_profile "$(awk '$1 == "umask" {print $2}' /etc/profile.d/hipaa.sh 2>/dev/null)"
kv tmout "$(sed -n 's/^[[:space:]]*TMOUT=\([0-9]*\).*/\1/p' /etc/profile.d/hipaa.sh 2>/dev/null | head -1)"
world=""; missing=""
for d in ${HIPAA_DATA_DIRS:-}; do
  if [ -d "$d" ]; then
    m=$(stat -c %a "$d"); [ $((8#$m & 7)) -ne 0 ] && world="$world $d:$m"
  else
    missing="$missing $d"
  fi
done
kv datadirs_world "${world# }"
kv datadirs_missing "${missing# }"
if [ -n "${HIPAA_BREAKGLASS_USER:-}" ] && getent passwd "$HIPAA_BREAKGLASS_USER" >/dev/null; then
  kv breakglass_status "$(passwd -S "$HIPAA_BREAKGLASS_USER" | awk '{print $2}')"
else
  kv breakglass_status absent
fi

# SSH (sshd -T: the configuration the daemon really uses)
if [ -x /usr/sbin/sshd ] && /usr/sbin/sshd -T -C user=nobody,host=localhost,addr=127.0.0.1 >/tmp/.hipaa-sshd-T 2>/dev/null; then
  kv sshd_present 1
  for k in permitrootlogin passwordauthentication kbdinteractiveauthentication pubkeyauthentication \
           permitemptypasswords clientaliveinterval clientalivecountmax ciphers macs kexalgorithms \
           allowgroups maxauthtries x11forwarding banner; do
    kv "sshd_$k" "$(awk -v k="$k" '$1 == k {$1=""; sub(/^ /, ""); print}' /tmp/.hipaa-sshd-T | paste -sd' ' -)"
  done
else
  kv sshd_present 0
fi
rm -f /tmp/.hipaa-sshd-T

# (b) audit controls
kv audit_rules_file "$(grep -Ecs '^-(w|a) ' "${HIPAA_AUDIT_RULES:-/nonexistent}")"
kv audit_rules_immutable "$(grep -cxs -- '-e 2' "${HIPAA_AUDIT_RULES:-/nonexistent}")"
if has auditctl; then
  out=$(auditctl -s 2>&1); rc=$?
  kv auditctl_rc "$rc"
  kv auditctl_denied "$(printf '%s' "$out" | grep -c 'Operation not permitted')"
  kv audit_enabled "$(printf '%s\n' "$out" | awk '$1 == "enabled" {print $2}')"
  kv audit_rules_loaded "$(auditctl -l 2>/dev/null | grep -c '^-')"
else
  kv auditctl_rc 127
fi
kv auditd_active "$(active auditd)"
kv rsyslog_active "$(active rsyslog)"
kv log_forward "$(grep -Ehos 'target="[^"]+"' /etc/rsyslog.d/90-hipaa-forward.conf | head -1 | cut -d'"' -f2)"
kv audisp_syslog "$(awk -F' *= *' '$1 == "active" {print $2}' /etc/audit/plugins.d/syslog.conf 2>/dev/null)"
kv acct_active "$(active acct)"

# (c) integrity
kv aide_db "$([ -s "${HIPAA_AIDE_DB:-/nonexistent}" ] && echo 1 || echo 0)"
kv aide_timer_enabled "$(systemctl is-enabled hipaa-aide-check.timer 2>/dev/null | head -1)"
kv aide_timer_active "$(active hipaa-aide-check.timer)"

# (d) person or entity authentication
kv pam_pwquality "$(grep -cs '^[^#].*pam_pwquality.so' /etc/pam.d/common-password)"
kv pwquality_minlen "$(awk -F' *= *' '$1 == "minlen" {print $2}' /etc/security/pwquality.conf 2>/dev/null)"
kv pam_faillock "$(grep -cs '^[^#].*pam_faillock.so' /etc/pam.d/common-auth)"
kv faillock_deny "$(awk -F' *= *' '$1 == "deny" {print $2}' /etc/security/faillock.conf 2>/dev/null)"
kv pass_max_days "$(awk '$1 == "PASS_MAX_DAYS" {print $2}' /etc/login.defs)"
kv sha_rounds "$(awk '$1 == "SHA_CRYPT_MIN_ROUNDS" {print $2}' /etc/login.defs)"
kv fail2ban_active "$(active fail2ban)"
kv fail2ban_sshd "$(fail2ban-client status sshd >/dev/null 2>&1 && echo 1 || echo 0)"

# (e) transmission security
# A server on loopback with OpenSSL's system defaults must refuse a TLS 1.1 client and
# accept a TLS 1.2 one, even when the server lowers its security level as legacy software
# does (the test server lives for two connections, on a random port).
tls_probe() {
  local d port pid
  d=$(mktemp -d)
  if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=hipaa-probe \
       -days 1 -keyout "$d/k" -out "$d/c" >/dev/null 2>&1; then
    port=$((20000 + RANDOM % 20000))
    openssl s_server -accept "127.0.0.1:$port" -cipher "DEFAULT:@SECLEVEL=0" -cert "$d/c" -key "$d/k" -naccept 2 -quiet </dev/null >/dev/null 2>&1 &
    pid=$!
    sleep 0.5
    kv tls11_accepted "$(timeout 5 openssl s_client -connect "127.0.0.1:$port" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>&1 | grep -c '^New, TLSv1.1')"
    kv tls12_accepted "$(timeout 5 openssl s_client -connect "127.0.0.1:$port" -tls1_2 </dev/null 2>&1 | grep -c '^New, TLSv1.2')"
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  rm -rf "$d"
}
if has openssl; then
  kv tls_min "$(awk -F' *= *' '$1 == "MinProtocol" {print $2}' /etc/ssl/openssl.cnf | tail -1)"
  tls_probe
fi
offloop=""
if has ss; then
  while read -r proto addr; do
    port=${addr##*:}; host=${addr%:*}
    case "$host" in 127.*|'[::1]'|'::1') continue ;; esac
    case " ${HIPAA_ALLOWED_PORTS:-} " in *" $port "*) continue ;; esac
    offloop="$offloop $proto/$host:$port"
  done < <(ss -Htuln 2>/dev/null | awk '{print $1, $5}' | sort -u)
fi
kv listeners_offloop "${offloop# }"

# baseline
bl=0; nbl=""
for m in ${HIPAA_MODULES:-}; do
  n=${m//-/_}
  if modprobe --showconfig 2>/dev/null | grep -Eq "^install ($m|$n) /bin/(false|true)"; then bl=$((bl + 1)); else nbl="$nbl $m"; fi
done
kv modules_blacklisted "$bl"
kv modules_not_blacklisted "${nbl# }"
kv core_hard "$(cat /etc/security/limits.conf /etc/security/limits.d/*.conf 2>/dev/null | awk '$1 == "*" && $2 == "hard" && $3 == "core" {print $4}' | tail -1)"
kv coredump_storage "$(awk -F= '$1 == "Storage" {print $2}' /etc/systemd/coredump.conf.d/hipaa.conf 2>/dev/null)"
kv banner_issue_net "$(grep -cs 'Authorized use only' /etc/issue.net)"
kv banner_issue "$(grep -cs 'Authorized use only' /etc/issue)"
kv unattended "$(apt-config dump 2>/dev/null | grep -c 'APT::Periodic::Unattended-Upgrade "1"')"
kv security_repo "$(grep -Erls -- '-security' /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null | wc -l)"
kv usbguard_installed "$(command -v usbguard >/dev/null 2>&1 && echo 1 || echo 0)"
kv usbguard_inserted_policy "$(awk -F= '$1 == "InsertedDevicePolicy" {print $2}' /etc/usbguard/usbguard-daemon.conf 2>/dev/null)"
kv usbguard_rules "$(grep -c '^allow' /etc/usbguard/rules.conf 2>/dev/null)"
kv usbguard_active "$(active usbguard)"
kv timesync_active "$(active systemd-timesyncd)"
mism=""
for kvp in ${HIPAA_SYSCTL:-}; do
  k=${kvp%%=*}; want=${kvp#*=}
  have=$(sysctl -n "$k" 2>/dev/null | tr -s '\t ' ' ')
  [ "$have" = "$want" ] || mism="$mism $k"
done
kv sysctl_mismatch "${mism# }"
kv sysctl_file "$([ -s /etc/sysctl.d/90-hipaa.conf ] && echo 1 || echo 0)"
kv proc_sys_writable "$(grep -Eq '\s/proc/sys\s.*\sro[,\s]' /proc/self/mounts && echo 0 || echo 1)"

# encryption at rest
open=""; closed=""
for n in ${HIPAA_LUKS_NAMES:-}; do
  if cryptsetup status "$n" 2>/dev/null | grep -q 'type:.*LUKS2'; then open="$open $n"; else closed="$closed $n"; fi
done
kv luks_open "${open# }"
kv luks_closed "${closed# }"
exit 0
