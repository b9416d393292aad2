-- weak-crypto: connections whose IKE or IPsec policy still allows weak cryptography.
-- One row per weak setting: 3DES encryption, MD5 or SHA-1 authentication, and the small
-- Diffie-Hellman groups 1, 2 and 5 (IKE dh_group, IPsec pfs).
-- Columns: id, name, status, vgw_id, policy, setting, value. Runs on SQLite and PostgreSQL.
SELECT c.id, c.name, c.status, c.vgw_id, w.policy, w.setting, w.value
FROM (
    SELECT connection_pk, 'ikepolicy' AS policy, 'encryption_algorithm' AS setting,
           encryption_algorithm AS value
    FROM ike_policies WHERE encryption_algorithm = '3des'
    UNION ALL
    SELECT connection_pk, 'ikepolicy', 'authentication_algorithm', authentication_algorithm
    FROM ike_policies WHERE authentication_algorithm IN ('md5', 'sha1')
    UNION ALL
    SELECT connection_pk, 'ikepolicy', 'dh_group', dh_group
    FROM ike_policies WHERE dh_group IN ('group1', 'group2', 'group5')
    UNION ALL
    SELECT connection_pk, 'ipsecpolicy', 'encryption_algorithm', encryption_algorithm
    FROM ipsec_policies WHERE encryption_algorithm = '3des'
    UNION ALL
    SELECT connection_pk, 'ipsecpolicy', 'authentication_algorithm', authentication_algorithm
    FROM ipsec_policies WHERE authentication_algorithm IN ('md5', 'sha1')
    UNION ALL
    SELECT connection_pk, 'ipsecpolicy', 'pfs', pfs
    FROM ipsec_policies WHERE pfs IN ('group1', 'group2', 'group5')
) w
JOIN connections c ON c.pk = w.connection_pk
ORDER BY c.name, c.id, w.policy, w.setting;
