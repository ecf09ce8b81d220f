//! The nodes of the local stack: how many of each server run (`local.cassandra_nodes`,
//! `local.kafka_brokers`) and where node `i` lives: its address and ports, its directory,
//! and the cluster-wide settings every node of a server shares (Cassandra's seed list and
//! default replication, Kafka's controller quorum and replication defaults), and the check
//! that a node's ports are free. Owns no process: [`super::LocalStack`] starts and stops
//! what this describes, [`super::kafka`] and [`super::cassandra`] render it into config
//! files.
//!
//! Where nodes live, and why:
//! - Cassandra node `i` binds its own loopback address `127.0.0.i` (Linux routes all of
//!   127/8 to `lo`), on the same CQL and storage ports as every other node: the shape of a
//!   real cluster, where the driver learns peers from `system.peers` as `address:port`
//!   with one port for all. Parallel tests stay apart because they reserve port numbers,
//!   which then are theirs on every address. Its JMX port, which Cassandra binds on
//!   127.0.0.1 only, is `local.cassandra_jmx_port + i - 1`.
//! - Kafka broker `i` listens on the `i`th entry of `kafka.bootstrap`, so clients and
//!   brokers cannot disagree. Brokers 1 to 3 are combined broker and controller nodes (on
//!   `local.kafka_controller_port + i - 1`): a quorum of 3 from 3 brokers on (it survives
//!   one controller's loss, as production quorums do), of 1 below (2 voters would
//!   tolerate no loss and need both), without 3 more JVMs for dedicated controllers.
//! - Node 1 keeps the directory a single-node stack always had (`<data_dir>/kafka`,
//!   `<data_dir>/cassandra`), so a stack grows into a cluster without moving its data;
//!   node `i > 1` lives in `<data_dir>/<server>-<i>`.

use super::{loopback_port, LocalError, LocalStack, Ports, Server};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};

/// One node of one server; `index` counts from 1, `of` is how many nodes the server has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Node {
    pub server: Server,
    pub index: u8,
    pub of: u8,
}

impl Node {
    /// The nodes of `server` when it runs `count` of them.
    pub fn all(server: Server, count: u8) -> Vec<Node> {
        (1..=count.max(1))
            .map(|index| Node {
                server,
                index,
                of: count.max(1),
            })
            .collect()
    }

    /// Its name in reports: the server's id alone (`kafka`) when it is the only node, else
    /// with its index (`kafka-2`).
    pub fn name(&self) -> String {
        if self.of <= 1 {
            self.server.id().to_string()
        } else {
            format!("{}-{}", self.server.id(), self.index)
        }
    }

    /// `Apache Kafka`, or `Apache Kafka broker 2` / `Apache Cassandra node 2` in a cluster.
    pub fn display_name(&self) -> String {
        if self.of <= 1 {
            return self.server.display_name().to_string();
        }
        let role = match self.server {
            Server::Kafka => "broker",
            Server::Cassandra | Server::Registry => "node",
        };
        format!("{} {role} {}", self.server.display_name(), self.index)
    }

    /// Where it keeps its config, data, logs and pid file.
    pub fn dir(&self, data_dir: &Path) -> PathBuf {
        if self.index <= 1 {
            data_dir.join(self.server.id())
        } else {
            data_dir.join(format!("{}-{}", self.server.id(), self.index))
        }
    }
}

/// The loopback address of Cassandra node `index`: `127.0.0.<index>`.
pub fn cassandra_address(index: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, index)
}

/// Cassandra's seed list, the same on every node: nodes 1 and 2 (one seed for one node).
/// Two seeds, so a restarted node finds the ring while either of them runs.
pub fn cassandra_seeds(nodes: u8, storage_port: u16) -> String {
    (1..=nodes.clamp(1, 2))
        .map(|i| format!("{}:{storage_port}", cassandra_address(i)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The replication of keyspaces created without one (Cassandra's `default_keyspace_rf`)
/// and of topics created without one (Kafka's `default.replication.factor`): every node
/// up to 3.
pub fn default_replication(nodes: u8) -> u8 {
    nodes.clamp(1, 3)
}

/// `min.insync.replicas` of the brokers: 2 of 3 replicas from 3 brokers on, so an
/// `acks=all` write is on two brokers and one broker's loss loses nothing; 1 below.
pub fn min_insync_replicas(brokers: u8) -> u8 {
    if brokers >= 3 {
        2
    } else {
        1
    }
}

/// How many brokers are also controllers: 3 from 3 brokers on, else 1.
pub fn kafka_controllers(brokers: u8) -> u8 {
    if brokers >= 3 {
        3
    } else {
        1
    }
}

/// The controller port of broker `index`, if it is a controller.
pub fn kafka_controller_port(brokers: u8, index: u8, first_port: u16) -> Option<u16> {
    (index <= kafka_controllers(brokers)).then(|| first_port.saturating_add(u16::from(index) - 1))
}

/// `controller.quorum.voters`: `1@127.0.0.1:<port>,2@127.0.0.1:<port + 1>,...`.
pub fn kafka_voters(brokers: u8, first_port: u16) -> String {
    (1..=kafka_controllers(brokers))
        .filter_map(|i| {
            kafka_controller_port(brokers, i, first_port).map(|p| format!("{i}@127.0.0.1:{p}"))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The JMX port of Cassandra node `index`, if JMX is configured.
pub fn cassandra_jmx_port(first: Option<u16>, index: u8) -> Option<u16> {
    first.map(|p| p.saturating_add(u16::from(index) - 1))
}

impl LocalStack {
    /// Broker `node`'s listener, controller and the cluster's quorum and replication.
    pub(super) fn broker_spec(&self, node: Node) -> Result<super::kafka::BrokerSpec, LocalError> {
        let (host, port) = self.kafka_listener(node)?;
        let brokers = node.of;
        Ok(super::kafka::BrokerSpec {
            node_id: node.index,
            host,
            port,
            controller_port: kafka_controller_port(
                brokers,
                node.index,
                self.local.kafka_controller_port,
            ),
            voters: kafka_voters(brokers, self.local.kafka_controller_port),
            replication: default_replication(brokers),
            min_insync_replicas: min_insync_replicas(brokers),
        })
    }

    /// Broker `node`'s host and port: the node's entry of `kafka.bootstrap` (an IP address
    /// as given, `localhost` as 127.0.0.1).
    pub(super) fn kafka_listener(&self, node: Node) -> Result<(String, u16), LocalError> {
        let key = "kafka.bootstrap";
        let entry = self
            .kafka
            .bootstrap
            .split(',')
            .nth(usize::from(node.index) - 1)
            .map(str::trim)
            .unwrap_or_default();
        let port = loopback_port(key, entry).map_err(|_| LocalError::NotLocal {
            what: format!("{key} entry {} (for {})", node.index, node.display_name()),
            value: self.kafka.bootstrap.clone(),
        })?;
        let host = crate::config::split_host_port(entry)
            .map(|(h, _)| h)
            .filter(|h| h.parse::<Ipv4Addr>().is_ok())
            .unwrap_or("127.0.0.1");
        Ok((host.to_string(), port))
    }

    pub(super) fn cassandra_spec(&self, node: Node, ports: &Ports) -> super::cassandra::NodeSpec {
        super::cassandra::NodeSpec {
            address: cassandra_address(node.index),
            native_port: ports.cassandra,
            storage_port: ports.cassandra_storage,
            seeds: cassandra_seeds(node.of, ports.cassandra_storage),
            jmx_port: cassandra_jmx_port(self.local.cassandra_jmx_port, node.index),
            default_rf: default_replication(node.of),
            cluster: node.of > 1,
        }
    }

    /// Refuses a start while another process holds one of the node's ports.
    pub(super) fn check_ports_free(&self, node: Node, ports: &Ports) -> Result<(), LocalError> {
        let mut wanted: Vec<(Ipv4Addr, u16, &str, &str)> = Vec::new();
        match node.server {
            Server::Kafka => {
                let (host, port) = self.kafka_listener(node)?;
                let host = host.parse().unwrap_or(Ipv4Addr::LOCALHOST);
                wanted.push((host, port, "the Kafka broker", "kafka.bootstrap"));
                let first = self.local.kafka_controller_port;
                if let Some(port) = kafka_controller_port(node.of, node.index, first) {
                    wanted.push((
                        Ipv4Addr::LOCALHOST,
                        port,
                        "the Kafka controller",
                        "local.kafka_controller_port",
                    ));
                }
            }
            Server::Cassandra => {
                let address = cassandra_address(node.index);
                wanted.push((
                    address,
                    ports.cassandra,
                    "Cassandra CQL",
                    "cassandra.contact_points",
                ));
                wanted.push((
                    address,
                    ports.cassandra_storage,
                    "Cassandra storage",
                    "local.cassandra_storage_port",
                ));
                if let Some(port) = cassandra_jmx_port(self.local.cassandra_jmx_port, node.index) {
                    wanted.push((
                        Ipv4Addr::LOCALHOST,
                        port,
                        "Cassandra JMX",
                        "local.cassandra_jmx_port",
                    ));
                }
            }
            Server::Registry => {
                wanted.push((
                    Ipv4Addr::LOCALHOST,
                    self.local.registry_port,
                    "the registry's API",
                    "local.registry_port",
                ));
                wanted.push((
                    Ipv4Addr::LOCALHOST,
                    self.local.registry_management_port,
                    "the registry's management interface",
                    "local.registry_management_port",
                ));
            }
        }
        for (address, port, what, key) in wanted {
            if TcpListener::bind(SocketAddrV4::new(address, port)).is_err() {
                return Err(LocalError::PortTaken {
                    what: if node.of > 1 {
                        format!("{what} of {}", node.name())
                    } else {
                        what.into()
                    },
                    port,
                    key: key.into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_named_and_placed() {
        let one = Node::all(Server::Kafka, 1);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].name(), "kafka");
        assert_eq!(one[0].display_name(), "Apache Kafka");
        assert_eq!(one[0].dir(Path::new("/d")), Path::new("/d/kafka"));
        let three = Node::all(Server::Cassandra, 3);
        let names: Vec<String> = three.iter().map(Node::name).collect();
        assert_eq!(names, ["cassandra-1", "cassandra-2", "cassandra-3"]);
        assert_eq!(three[1].display_name(), "Apache Cassandra node 2");
        assert_eq!(three[0].dir(Path::new("/d")), Path::new("/d/cassandra"));
        assert_eq!(three[2].dir(Path::new("/d")), Path::new("/d/cassandra-3"));
        assert_eq!(cassandra_address(3).to_string(), "127.0.0.3");
    }

    #[test]
    fn seeds_and_replication() {
        assert_eq!(cassandra_seeds(1, 7000), "127.0.0.1:7000");
        assert_eq!(cassandra_seeds(3, 7000), "127.0.0.1:7000,127.0.0.2:7000");
        assert_eq!(default_replication(1), 1);
        assert_eq!(default_replication(3), 3);
        assert_eq!(default_replication(5), 3);
        assert_eq!(min_insync_replicas(1), 1);
        assert_eq!(min_insync_replicas(2), 1);
        assert_eq!(min_insync_replicas(3), 2);
        assert_eq!(cassandra_jmx_port(None, 2), None);
        assert_eq!(cassandra_jmx_port(Some(7199), 3), Some(7201));
    }

    #[test]
    fn controller_quorum() {
        assert_eq!(kafka_voters(1, 9093), "1@127.0.0.1:9093");
        assert_eq!(kafka_voters(2, 9093), "1@127.0.0.1:9093");
        assert_eq!(
            kafka_voters(3, 9093),
            "1@127.0.0.1:9093,2@127.0.0.1:9094,3@127.0.0.1:9095"
        );
        assert_eq!(kafka_voters(5, 9093), kafka_voters(3, 9093));
        assert_eq!(kafka_controller_port(2, 2, 9093), None, "broker only");
        assert_eq!(kafka_controller_port(5, 3, 9093), Some(9095));
        assert_eq!(kafka_controller_port(5, 4, 9093), None);
    }
}
