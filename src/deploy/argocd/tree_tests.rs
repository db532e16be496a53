use serde_json::json;

use super::*;

fn app() -> App {
    App::from_json(json!({
        "metadata": {"name": "checkout"},
        "status": {"resources": [
            {"group": "argoproj.io", "kind": "Rollout", "namespace": "shop", "name": "checkout", "status": "Synced",
             "health": {"status": "Progressing", "message": "more replicas need to be updated"}},
            {"kind": "Service", "namespace": "shop", "name": "checkout", "status": "OutOfSync", "health": {"status": "Healthy"}},
        ]}
    }))
    .expect("an application")
}

fn owned(kind: &str, name: &str, owner: (&str, &str, &str), extra: serde_json::Value) -> serde_json::Value {
    let mut o = json!({
        "apiVersion": if kind == "Pod" { "v1" } else { "apps/v1" }, "kind": kind,
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                     "ownerReferences": [{"apiVersion": "x/v1", "kind": owner.0, "name": owner.1, "uid": owner.2}]},
    });
    if let (Some(o), Some(extra)) = (o.as_object_mut(), extra.as_object()) {
        o.extend(extra.clone());
    }
    o
}

#[test]
fn the_tree_nests_what_the_managed_resources_own_with_health_and_out_of_sync_first() {
    let objects = vec![
        // The Pod comes before its ReplicaSet: the tree is put together whatever the order.
        owned(
            "Pod",
            "checkout-6d4f-a",
            ("ReplicaSet", "checkout-6d4f", "uid-checkout-6d4f"),
            json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}),
        ),
        owned(
            "ReplicaSet",
            "checkout-6d4f",
            ("Rollout", "checkout", "rollout-uid"),
            json!({"spec": {"replicas": 3}, "status": {"readyReplicas": 1}}),
        ),
        // Another app's Pod in the same namespace stays out.
        owned("Pod", "cart-1", ("ReplicaSet", "cart-9", "uid-cart-9"), json!({})),
    ];
    let tree = Tree::with_owned(&app(), &objects);
    assert_eq!(tree.nodes.len(), 4);
    assert_eq!(
        tree.lines(&app()),
        vec![
            "≠ Service/checkout (shop) · OutOfSync · Healthy",
            "◐ Rollout/checkout (shop) · Synced · Progressing · more replicas need to be updated",
            "  ◐ ReplicaSet/checkout-6d4f · Progressing · 1 of 3 replicas ready",
            "    ✓ Pod/checkout-6d4f-a · Healthy",
        ]
    );
    assert_eq!(tree.rollouts(), vec![("shop".to_string(), "checkout".to_string())]);
}

#[test]
fn the_servers_tree_is_read_as_served_and_a_cycle_is_drawn_once() {
    let served = json!({"nodes": [
        {"group": "argoproj.io", "kind": "Rollout", "namespace": "shop", "name": "checkout", "uid": "r1", "health": {"status": "Healthy"}},
        {"group": "apps", "kind": "ReplicaSet", "namespace": "shop", "name": "rs", "uid": "s1",
         "parentRefs": [{"group": "argoproj.io", "kind": "Rollout", "namespace": "shop", "name": "checkout", "uid": "r1"}]},
        // Hostile data: two Pods that own each other under the ReplicaSet.
        {"kind": "Pod", "namespace": "shop", "name": "p1", "uid": "p1", "parentRefs": [{"kind": "Pod", "namespace": "shop", "name": "p2", "uid": "p2"}]},
        {"kind": "Pod", "namespace": "shop", "name": "p2", "uid": "p2", "parentRefs": [{"kind": "Pod", "namespace": "shop", "name": "p1", "uid": "p1"}]},
    ]});
    let tree: Tree = serde_json::from_value(served).expect("a tree");
    let lines = tree.lines(&App::default());
    assert_eq!(lines[..2], ["✓ Rollout/checkout (shop) · Healthy", "  · ReplicaSet/rs"]);
    // Neither Pod has a parent outside the cycle: both are drawn, once, after the tree.
    assert_eq!(lines[2..], ["· Pod/p1 (shop)", "  · Pod/p2"]);
}

#[test]
fn a_big_tree_is_cut_with_what_is_left_out_and_a_partial_one_says_why() {
    let mut nodes = vec![json!({"kind": "Deployment", "namespace": "n", "name": "d", "uid": "d"})];
    for i in 0..500 {
        nodes.push(json!({"kind": "Pod", "namespace": "n", "name": format!("p{i}"), "uid": format!("p{i}"), "parentRefs": [{"uid": "d"}]}));
    }
    let tree: Tree = serde_json::from_value(json!({"nodes": nodes})).expect("a tree");
    let lines = tree.lines(&App::default());
    assert_eq!(lines.len(), TREE_LINES + 1);
    assert_eq!(lines.last().map(String::as_str), Some("… 301 more resources"));
    let partial = Tree::top_level(&app(), Some("the destination is another cluster".into()));
    assert_eq!(partial.lines(&app()).last().map(String::as_str), Some("(the top level only: the destination is another cluster)"));
}
