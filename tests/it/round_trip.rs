//! API JSON -> tables -> `export` must give back exactly what the API served.

use crate::support::{
    Backend, TestEnv, assert_same_connections, expected_export, sorted_by_id, strict_sweep_pages,
};
use serde_json::Value;

backend_tests!(
    seed_examples_round_trip_exactly,
    generated_inventory_of_thousands_round_trips_exactly,
    unknown_fields_nulls_and_odd_types_survive,
    api_timestamps_are_kept_verbatim_and_parsed,
);

fn seed_connections(file: &str) -> Vec<Value> {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let page: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    page["vpn_connections"].as_array().unwrap().clone()
}

async fn seed_examples_round_trip_exactly(backend: Backend) {
    for file in [
        "seed-example-all-connections.json",
        "seed-example-by-vgw-id.json",
        "seed-example-by-vgw-ip.json",
    ] {
        let served = seed_connections(file);
        let env = TestEnv::with_inventory(backend, served.clone()).await;
        let report = env.sync(&[]).await;
        assert_eq!(report["added"], 2, "{file}");
        assert_eq!(
            sorted_by_id(env.export().await),
            sorted_by_id(served),
            "{file}"
        );
    }
}

async fn generated_inventory_of_thousands_round_trips_exactly(backend: Backend) {
    let env = TestEnv::generated(backend, 3000, 7).await;
    let report = env.sync(&[]).await;
    assert_eq!(report["fetched"], 3000);
    assert_eq!(report["added"], 3000);
    // 15 full pages' worth, the strict answer that sends the pager back one step, the overlap.
    assert_eq!(report["pages"], strict_sweep_pages(3000, 200));
    assert_eq!(report["duplicates"], 0);
    let served = env.sim.state.inventory();
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));

    // Changes spread over every apply chunk (each is judged while the one before is written).
    env.sim.state.mutate(60, 8);
    let report = env.sync(&[]).await;
    assert!(report["modified"].as_i64().unwrap() > 0, "{report}");
    let served = env.sim.state.inventory();
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
}

async fn unknown_fields_nulls_and_odd_types_survive(backend: Backend) {
    let served: Vec<Value> = vec![serde_json::json!({
        "id": "odd-1", "name": "odd", "status": "SOMETHING_NEW", "style": "FUTURE-STYLE",
        "created_at": "2024-01-01T00:00:00.001Z", "updated_at": "2024-01-01T00:00:00",
        "enable_nqa": "true", "ha_role": null, "tags": [],
        "peer_subnets": ["10.0.0.0/8", 5],
        "policy_rules": [{"rule_index": 51, "source": "10.0.0.0/24", "future": {"x": [1, 2]}},
                         {"rule_index": 2, "destination": []}],
        "ikepolicy": {"lifetime_seconds": 1.5, "dpd": {}, "new_knob": false},
        "ipsecpolicy": {},
        "bgp_peer": {"peer_asn": 4294967295u64, "num_message_sent": 9007199254740993u64},
        "brand_new": {"nested": [null, true]}
    })];
    let env = TestEnv::with_inventory(backend, served.clone()).await;
    env.sync(&[]).await;
    assert_same_connections(&env.export().await, &expected_export(&served));
}

async fn api_timestamps_are_kept_verbatim_and_parsed(backend: Backend) {
    use sqlx::Row;
    let served = vec![
        serde_json::json!({
            "id": "t1",
            "created_at": "2022-12-11T13:59:59.633Z",
            "updated_at": "2022-12-11T13:59:59"
        }),
        serde_json::json!({"id": "t2", "created_at": "not a time"}),
    ];
    let env = TestEnv::with_inventory(backend, served).await;
    env.sync(&[]).await;
    type Times = Option<chrono::DateTime<chrono::Utc>>;
    const SQL: &str = "SELECT created_at, created_at_utc, updated_at_utc \
                       FROM connections ORDER BY id";
    let rows: Vec<(String, Times, Times)> = on_test_db!(&env.db().await, pool => {
        let rows = sqlx::query(SQL).fetch_all(pool).await.unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()
    });
    assert_eq!(rows[0].0, "2022-12-11T13:59:59.633Z");
    assert_eq!(rows[0].1.unwrap().timestamp_millis(), 1_670_767_199_633);
    assert_eq!(rows[0].2.unwrap().timestamp(), 1_670_767_199);
    assert_eq!((rows[1].0.as_str(), rows[1].1), ("not a time", None));
}
