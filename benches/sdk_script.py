"""The script a user would write instead of vpn-inventory: the official Huawei Cloud Python SDK
lists every VPN connection (ListVpnConnections, limit 200, marker paging) and each connection's
JSON goes into one SQLite table, one row per connection. benches/bench.sh measures it as the
"SDK script" column (issue #26); it runs in the venv the bench makes, with huaweicloudsdkvpn
and huaweicloudsdkcore pinned there.

Usage: python sdk_script.py ENDPOINT DATABASE
Credentials and project from HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, HUAWEICLOUD_SDK_PROJECT_ID.
Prints one JSON line: pages, connections (rows written) and seconds.
"""

import json
import os
import sqlite3
import sys
import time

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkvpn.v5 import ListVpnConnectionsRequest, VpnClient

LIMIT = 200


def main():
    endpoint, database = sys.argv[1], sys.argv[2]
    started = time.monotonic()
    credentials = BasicCredentials(
        os.environ["HUAWEICLOUD_SDK_AK"],
        os.environ["HUAWEICLOUD_SDK_SK"],
        os.environ["HUAWEICLOUD_SDK_PROJECT_ID"],
    )
    client = (
        VpnClient.new_builder()
        .with_credentials(credentials)
        .with_endpoints([endpoint])
        .build()
    )
    db = sqlite3.connect(database)
    db.execute("CREATE TABLE IF NOT EXISTS vpn_connections (id TEXT PRIMARY KEY, json TEXT)")
    pages = rows = 0
    marker = None
    while True:
        request = ListVpnConnectionsRequest(limit=LIMIT, marker=marker)
        response = client.list_vpn_connections(request)
        pages += 1
        connections = response.vpn_connections or []
        db.executemany(
            "INSERT OR REPLACE INTO vpn_connections (id, json) VALUES (?, ?)",
            [(c.id, json.dumps(c.to_dict(), default=str)) for c in connections],
        )
        rows += len(connections)
        info = response.page_info
        if not connections or info is None or not info.next_marker:
            break
        if (info.current_count or 0) < LIMIT:
            break
        marker = info.next_marker
    db.commit()
    db.close()
    seconds = time.monotonic() - started
    summary = {"pages": pages, "connections": rows, "seconds": round(seconds, 3)}
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
