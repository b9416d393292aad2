-- name: weak-crypto
-- title: Weak cryptography, one row per connection and finding
-- Which tunnels still negotiate something weak, on the IKE (phase 1) or the IPsec (phase 2)
-- side: 3DES or DES encryption, MD5 or SHA-1 integrity, Diffie-Hellman groups 1, 2 and 5 (IKE
-- dh_group, IPsec pfs), PFS disabled (IPsec pfs = disable), IKEv1, and IKEv1's aggressive
-- mode. `policy` and `setting` are the API's names (ikepolicy.encryption_algorithm, ...).
-- param: project text = *  Only this project's connections (--project, --target); * for all.
SELECT c.project_id, c.id, c.name, c.status, c.vgw_id, w.policy, w.setting, w.value, w.finding
FROM (
    SELECT connection_pk, 'ikepolicy' AS policy, 'encryption_algorithm' AS setting,
           encryption_algorithm AS value, 'weak encryption' AS finding
    FROM ike_policies WHERE lower(encryption_algorithm) IN ('3des', 'des')
    UNION ALL
    SELECT connection_pk, 'ikepolicy', 'authentication_algorithm', authentication_algorithm,
           'weak integrity'
    FROM ike_policies WHERE lower(authentication_algorithm) IN ('md5', 'sha1')
    UNION ALL
    SELECT connection_pk, 'ikepolicy', 'dh_group', dh_group, 'weak Diffie-Hellman group'
    FROM ike_policies WHERE lower(dh_group) IN ('group1', 'group2', 'group5')
    UNION ALL
    SELECT connection_pk, 'ikepolicy', 'ike_version', ike_version, 'IKEv1'
    FROM ike_policies WHERE lower(ike_version) = 'v1'
    UNION ALL
    SELECT connection_pk, 'ikepolicy', 'phase1_negotiation_mode', phase1_negotiation_mode,
           'IKEv1 aggressive mode'
    FROM ike_policies WHERE lower(phase1_negotiation_mode) = 'aggressive'
    UNION ALL
    SELECT connection_pk, 'ipsecpolicy', 'encryption_algorithm', encryption_algorithm,
           'weak encryption'
    FROM ipsec_policies WHERE lower(encryption_algorithm) IN ('3des', 'des')
    UNION ALL
    SELECT connection_pk, 'ipsecpolicy', 'authentication_algorithm', authentication_algorithm,
           'weak integrity'
    FROM ipsec_policies WHERE lower(authentication_algorithm) IN ('md5', 'sha1')
    UNION ALL
    SELECT connection_pk, 'ipsecpolicy', 'pfs', pfs, 'weak Diffie-Hellman group'
    FROM ipsec_policies WHERE lower(pfs) IN ('group1', 'group2', 'group5')
    UNION ALL
    SELECT connection_pk, 'ipsecpolicy', 'pfs', pfs, 'PFS disabled'
    FROM ipsec_policies WHERE lower(pfs) = 'disable'
) w
JOIN connections c ON c.pk = w.connection_pk
WHERE :project = '*' OR c.project_id = :project
ORDER BY COALESCE(c.name, ''), c.id, c.project_id, w.policy, w.setting;
