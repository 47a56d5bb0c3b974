//! Configured `residentGroups` (with `features.enableMultiplePrivateStates`) are checked as
//! Tessera checks them and written to the database when a service starts, so that a restart,
//! a replica or another interface of the node serves them (`GET /groups/resident`); a config
//! that breaks Tessera's rules refuses to start and writes nothing.

use std::collections::BTreeMap;

use tm_client::q2t::Q2tClient;
use tm_config::cli::Exit;
use tm_config::ResidentGroup;
use tm_dev_support::postgres::Schema;
use tm_dev_support::{block_on, Service, TestNode};
use tm_store::{PrivacyGroupRow, Store};

/// A node with `keys` keys and multiple private states on.
fn node(name: &str, keys: usize) -> TestNode {
    let mut node = TestNode::new(name, keys, &[]);
    node.config.features.enable_multiple_private_states = true;
    node
}

/// The base64 of the node's keys at `indexes`.
fn keys(node: &TestNode, indexes: &[usize]) -> Vec<String> {
    indexes
        .iter()
        .map(|i| node.keys[*i].public.to_base64())
        .collect()
}

/// Configures `residentGroups`: each group's name and the indexes of its member keys.
fn configure_groups(node: &mut TestNode, groups: &[(&str, &[usize])]) {
    node.config.resident_groups = groups
        .iter()
        .map(|(name, members)| ResidentGroup {
            name: (*name).to_owned(),
            description: Some(format!("{name} of {}", node.name)),
            members: keys(node, members),
        })
        .collect();
}

/// Configures a foreign key (of no enclave) in `group`.
fn configure_foreign_member(node: &mut TestNode, group: &str) -> String {
    let foreign = tm_core::KeyPair::generate()
        .expect("a key pair")
        .public
        .to_base64();
    node.config
        .resident_groups
        .iter_mut()
        .find(|g| g.name == group)
        .expect("the group is configured")
        .members
        .push(foreign.clone());
    foreign
}

/// What `GET /groups/resident` lists at `q2t_url`: name to members.
fn listed(q2t_url: &str) -> BTreeMap<String, Vec<String>> {
    let client = Q2tClient::new(q2t_url).expect("q2t client");
    block_on(client.groups("resident"))
        .expect("GET /groups/resident")
        .into_iter()
        .map(|group| {
            assert_eq!(group.group_type, "RESIDENT");
            assert_eq!(
                tm_core::b64::decode(&group.privacy_group_id, "privacy group id")
                    .expect("base64 id"),
                group.name.as_bytes(),
                "a resident group's id is its name"
            );
            (group.name, group.members)
        })
        .collect()
}

/// The privacy group rows in the node's database.
fn stored(node: &TestNode) -> Vec<PrivacyGroupRow> {
    let jdbc = node.config.jdbc.clone().expect("jdbc is configured");
    let store = Store::connect(
        jdbc.url.as_deref().expect("jdbc.url"),
        jdbc.username.as_deref(),
        jdbc.password.as_ref().map(|p| p.expose()),
        false,
        1,
    )
    .expect("the node's database opens");
    store.list_privacy_groups().expect("privacy groups")
}

/// Starts Q2T, which must refuse with exit 2 and a message containing `message`.
fn assert_refused(node: &mut TestNode, message: &str) {
    let error = node
        .try_start(Service::Q2t)
        .expect_err("the service refuses to start");
    assert_eq!(error.exit(), Exit::Failure, "{error}");
    assert_eq!(error.exit().code(), 2);
    assert!(error.to_string().contains(message), "{error}");
    assert!(error.to_string().starts_with("Cause is "), "{error}");
}

#[test]
fn resident_groups_are_stored_at_start_and_outlive_the_config() {
    let mut node = node("resident", 3);
    configure_groups(&mut node, &[("first", &[0]), ("second", &[1, 2])]);
    node.start(Service::Q2t);
    let expected = BTreeMap::from([
        ("first".to_owned(), keys(&node, &[0])),
        ("second".to_owned(), keys(&node, &[1, 2])),
    ]);
    assert_eq!(listed(&node.q2t_url()), expected);
    let rows = stored(&node);
    assert_eq!(rows.len(), 2);
    let record = rows[0].record().expect("decodes");
    assert_eq!(
        (record.name.as_str(), record.description.as_str()),
        ("first", "first of resident")
    );
    assert_eq!(
        (record.group_type.as_str(), record.state.as_str()),
        ("RESIDENT", "ACTIVE")
    );
    assert_eq!(
        rows[0].lookup_id,
        tm_core::privacy_group::lookup_id(&record.members).0
    );

    // The same config again changes nothing.
    node.stop(Service::Q2t);
    node.start(Service::Q2t);
    assert_eq!(stored(&node), rows);
    assert_eq!(listed(&node.q2t_url()), expected);

    // Without the groups in the config they are still served: they come from the database.
    node.stop(Service::Q2t);
    node.config.resident_groups.clear();
    node.start(Service::Q2t);
    assert_eq!(listed(&node.q2t_url()), expected);
    assert_eq!(stored(&node), rows);
}

#[test]
fn a_group_configured_again_with_a_new_key_gets_it_added() {
    let mut node = node("grown", 3);
    // The node starts with two keys; the third is added to it later.
    let all_keys = node.config.keys.clone();
    if let Some(data) = node
        .config
        .keys
        .as_mut()
        .and_then(|keys| keys.key_data.as_mut())
    {
        data.truncate(2);
    }
    configure_groups(&mut node, &[("main", &[0]), ("other", &[1])]);
    node.start(Service::Q2t);
    node.stop(Service::Q2t);

    // The new key, configured alone under a stored name, joins the stored members.
    node.config.keys = all_keys;
    configure_groups(&mut node, &[("main", &[2])]);
    node.start(Service::Q2t);
    assert_eq!(
        listed(&node.q2t_url()),
        BTreeMap::from([
            ("main".to_owned(), keys(&node, &[2, 0])),
            ("other".to_owned(), keys(&node, &[1])),
        ])
    );
}

#[test]
fn other_interfaces_and_later_replicas_serve_the_stored_groups_on_postgresql() {
    let schema = Schema::create("q2t_resident");
    let mut node = node("shared", 2);
    node.use_postgres(&schema);
    configure_groups(&mut node, &[("alpha", &[0]), ("beta", &[1])]);
    // The P2P service starts first and stores them.
    node.start(Service::P2p);
    assert_eq!(stored(&node).len(), 2);

    // Q2T and a Q2T replica configured without them serve them from the database.
    node.config.resident_groups.clear();
    node.start(Service::Q2t);
    let replica = node.start_replica(Service::Q2t);
    let expected = BTreeMap::from([
        ("alpha".to_owned(), keys(&node, &[0])),
        ("beta".to_owned(), keys(&node, &[1])),
    ]);
    assert_eq!(listed(&node.q2t_url()), expected);
    assert_eq!(listed(&replica), expected);
    node.stop_replicas(Service::Q2t);
    node.stop(Service::Q2t);
    node.stop(Service::P2p);
    schema.drop_all();
}

#[test]
fn a_foreign_key_in_a_group_refuses_to_start_and_writes_nothing() {
    let mut node = node("foreign", 1);
    configure_groups(&mut node, &[("mine", &[0])]);
    let foreign = configure_foreign_member(&mut node, "mine");
    assert_refused(
        &mut node,
        &format!("Key PublicKey[{foreign}] configured in resident groups must be locally managed"),
    );
    assert!(stored(&node).is_empty());
}

#[test]
fn a_key_in_two_groups_refuses_to_start_and_writes_nothing() {
    let mut node = node("twice", 2);
    configure_groups(&mut node, &[("one", &[0]), ("two", &[0, 1])]);
    let key = keys(&node, &[0]).remove(0);
    assert_refused(
        &mut node,
        &format!(
            "Key cannot belong to more than one resident group.Cause: Duplicate key PublicKey[{key}]"
        ),
    );
    assert!(stored(&node).is_empty());

    // Also when the other group is a stored one: a key cannot move to another group.
    configure_groups(&mut node, &[("one", &[0]), ("two", &[1])]);
    node.start(Service::Q2t);
    node.stop(Service::Q2t);
    let before = stored(&node);
    configure_groups(&mut node, &[("three", &[1])]);
    assert_refused(
        &mut node,
        "Key cannot belong to more than one resident group",
    );
    assert_eq!(stored(&node), before);
}

#[test]
fn a_key_in_no_group_refuses_to_start_and_writes_nothing() {
    let mut node = node("homeless", 2);
    configure_groups(&mut node, &[("some", &[0])]);
    let homeless = keys(&node, &[1]).remove(0);
    assert_refused(
        &mut node,
        &format!("PublicKey[{homeless}] must belong to a resident group"),
    );
    assert!(stored(&node).is_empty());
}

#[test]
fn without_multiple_private_states_nothing_is_checked_or_stored() {
    let mut node = TestNode::new("single-state", 2, &[]);
    configure_groups(&mut node, &[("some", &[0])]);
    configure_foreign_member(&mut node, "some");
    node.start(Service::Q2t);
    assert!(stored(&node).is_empty());
}
