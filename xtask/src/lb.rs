//! Renders the load-balancer templates of `deploy/lb/` and runs the balancer.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Which balancer.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Balancer {
    /// Open-source nginx with passive checks.
    Nginx,
    /// HAProxy with active `/readiness` checks.
    Haproxy,
}

/// One balanced interface: its name, where the balancer listens, the replicas, the check path.
#[derive(Clone, Debug)]
pub struct Frontend {
    /// Upstream name: the node and the interface's binary, e.g. `node1_p2p_node`; its end
    /// says which kind of interface it is ([`Frontend::kind`]).
    pub name: String,
    /// `127.0.0.1:port` the balancer listens on (the advertised address).
    pub listen: String,
    /// `127.0.0.1:port` of each replica.
    pub backends: Vec<String>,
}

/// The kinds of interface, as the templates' `# BEGIN interface <kinds>` lines name them, with
/// the ends of the upstream names they are recognised by.
const KINDS: [(&str, &[&str]); 4] = [
    ("p2p", &["_p2p_node", "_p2p"]),
    ("q2t", &["_q2t_api", "_q2t"]),
    ("thirdparty", &["_thirdparty_api", "_thirdparty"]),
    ("enclave", &["_enclave"]),
];

impl Frontend {
    /// Which kind of interface it is (`p2p`, `q2t`, `thirdparty`, `enclave`): the balancers
    /// time and retry each kind differently (docs/operations.md).
    pub fn kind(&self) -> Result<&'static str, String> {
        KINDS
            .iter()
            .find(|(_, ends)| ends.iter().any(|end| self.name.ends_with(end)))
            .map(|(kind, _)| *kind)
            .ok_or_else(|| {
                format!(
                    "upstream {}: its name does not end with an interface's binary",
                    self.name
                )
            })
    }
}

/// How long after a replica hangs the balancer stops sending it new requests of an interface
/// of `kind`: what `cargo xtask ha` allows before it counts failed sends.
///
/// - HAProxy checks every replica every 250 ms (`inter`) and gives each check 500 ms
///   (`timeout check`); two failed checks (`fall 2`) take it out: at most 2 × (250 + 500) ms.
/// - nginx has no active checks: the first request sent to the hung replica waits one read
///   timeout of that interface (2 s for P2P, 1 s for the enclave, 4.8 s for Q2T and ThirdParty),
///   then the replica is left alone for `fail_timeout` (`max_fails=1`).
///
/// Requests sent to the replica before that fail or are retried as the interface allows: a
/// P2P or enclave call is retried on the next replica; a send that reached the hung replica
/// fails when the balancer's read timeout ends (4.8 s later).
pub fn detection_window(balancer: Balancer, kind: &str) -> Duration {
    match balancer {
        Balancer::Haproxy => HAPROXY_FALL * (HAPROXY_CHECK_INTERVAL + HAPROXY_CHECK_TIMEOUT),
        Balancer::Nginx => match kind {
            "q2t" | "thirdparty" => SEND_READ_TIMEOUT,
            "enclave" => ENCLAVE_READ_TIMEOUT,
            _ => P2P_READ_TIMEOUT,
        },
    }
}

/// HAProxy's `inter` (and `fastinter`) in `haproxy.cfg.tmpl`.
pub const HAPROXY_CHECK_INTERVAL: Duration = Duration::from_millis(250);
/// HAProxy's `timeout check` in `haproxy.cfg.tmpl`.
pub const HAPROXY_CHECK_TIMEOUT: Duration = Duration::from_millis(500);
/// HAProxy's `fall` in `haproxy.cfg.tmpl`.
pub const HAPROXY_FALL: u32 = 2;
/// The balancers' read timeout for Q2T and ThirdParty (nginx `proxy_read_timeout`, HAProxy
/// `timeout server`): above the 4.5 s `sendTimeout`, below GoQuorum's 5 s.
const SEND_READ_TIMEOUT: Duration = Duration::from_millis(4800);
/// The balancers' read timeout of one try for P2P: above a push that meets a hung enclave
/// replica (one enclave try, then the next replica).
const P2P_READ_TIMEOUT: Duration = Duration::from_secs(2);
/// The balancers' read timeout of one try for the enclave.
const ENCLAVE_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// One `# BEGIN interface [kinds]` .. `# END interface` block of a template.
struct Block<'t> {
    /// The kinds it serves; empty for every kind.
    kinds: Vec<&'t str>,
    body: &'t str,
}

/// Fills a template: each `# BEGIN interface [kinds]` .. `# END interface` block is repeated,
/// in place, for every frontend of those kinds (a block without kinds takes every frontend a
/// block before it did not), `{{SERVER}}` lines once per backend.
pub fn render(template: &str, dir: &Path, frontends: &[Frontend]) -> Result<String, String> {
    // Markers are whole lines (the templates' comments name them too).
    const BEGIN: &str = "# BEGIN interface";
    const END: &str = "\n# END interface\n";
    let mut pieces: Vec<Result<&str, Block>> = Vec::new();
    let mut rest = template;
    while let Some(newline) = rest.find(&format!("\n{BEGIN}")) {
        let begin = newline + 1;
        pieces.push(Ok(&rest[..begin]));
        let header_end = rest[begin..]
            .find('\n')
            .map(|i| begin + i)
            .ok_or("a '# BEGIN interface' line without an end of line")?;
        let kinds = rest[begin + BEGIN.len()..header_end]
            .split_whitespace()
            .collect();
        // From the header's end of line, so that an empty block still has its newline.
        let after = &rest[header_end..];
        let end = after
            .find(END)
            .ok_or("a '# BEGIN interface' block without its '# END interface' line")?;
        pieces.push(Err(Block {
            kinds,
            body: &after[1..end + 1],
        }));
        rest = &after[end + END.len()..];
    }
    pieces.push(Ok(rest));
    let blocks: Vec<&Block> = pieces.iter().filter_map(|p| p.as_ref().err()).collect();
    if blocks.is_empty() {
        return Err("template has no '# BEGIN interface' line".into());
    }
    // Each frontend goes to the first block that takes its kind.
    let mut chosen = Vec::with_capacity(frontends.len());
    for frontend in frontends {
        let kind = frontend.kind()?;
        let block = blocks
            .iter()
            .position(|b| b.kinds.is_empty() || b.kinds.contains(&kind))
            .ok_or_else(|| format!("the template has no block for {kind} ({})", frontend.name))?;
        chosen.push(block);
    }
    let mut rendered = String::new();
    let mut index = 0;
    for piece in &pieces {
        match piece {
            Ok(text) => rendered.push_str(text),
            Err(block) => {
                for (frontend, _) in frontends.iter().zip(&chosen).filter(|(_, b)| **b == index) {
                    render_block(block.body, frontend, &mut rendered);
                }
                index += 1;
            }
        }
    }
    Ok(rendered.replace("{{DIR}}", &dir.display().to_string()))
}

/// One block for one frontend.
fn render_block(block: &str, frontend: &Frontend, out: &mut String) {
    for line in block.lines() {
        if let Some(server) = line.strip_prefix("{{SERVER}}") {
            for (i, backend) in frontend.backends.iter().enumerate() {
                out.push_str(
                    &server
                        .replace("{{ADDRESS}}", backend)
                        .replace("{{ID}}", &format!("r{}", i + 1)),
                );
                out.push('\n');
            }
        } else {
            out.push_str(
                &line
                    .replace("{{NAME}}", &frontend.name)
                    .replace("{{LISTEN}}", &frontend.listen),
            );
            out.push('\n');
        }
    }
}

/// nginx's stream module (TCP pass-through, for nodes serving TLS): Debian ships it apart.
pub const NGINX_STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// Installs the balancer from Debian's packages when it is missing (as root); with `tls`,
/// nginx's stream module too.
pub fn ensure_installed(balancer: Balancer, tls: bool) -> Result<PathBuf, String> {
    if tls && balancer == Balancer::Nginx && !Path::new(NGINX_STREAM_MODULE).exists() {
        apt_install("libnginx-mod-stream")?;
    }
    ensure_binary(balancer)
}

fn apt_install(package: &str) -> Result<(), String> {
    println!("cluster: installing {package} from Debian's packages");
    let update = Command::new("apt-get").args(["update", "-qq"]).status();
    let install = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    match (update, install) {
        (Ok(_), Ok(status)) if status.success() => Ok(()),
        _ => Err(format!(
            "cannot install {package}: run `apt-get install {package}` as root"
        )),
    }
}

/// Where the balancer's binary is installed, if it is.
fn installed(balancer: Balancer) -> Option<PathBuf> {
    let binary = match balancer {
        Balancer::Nginx => "nginx",
        Balancer::Haproxy => "haproxy",
    };
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(binary))
        .find(|path| path.exists())
}

fn ensure_binary(balancer: Balancer) -> Result<PathBuf, String> {
    if let Some(path) = installed(balancer) {
        return Ok(path);
    }
    let (binary, package) = match balancer {
        Balancer::Nginx => ("nginx", "nginx-light"),
        Balancer::Haproxy => ("haproxy", "haproxy"),
    };
    apt_install(package)?;
    // The package starts a system-wide instance on port 80; this cluster needs none.
    let _ = Command::new("service").args([binary, "stop"]).status();
    installed(balancer).ok_or_else(|| format!("{binary} not found after installing {package}"))
}

/// The balancer's command line for a rendered config at `config`, run in the foreground.
pub fn command(balancer: Balancer, binary: &Path, config: &Path, dir: &Path) -> Command {
    let mut command = Command::new(binary);
    match balancer {
        Balancer::Nginx => {
            command
                .arg("-p")
                .arg(dir)
                .arg("-c")
                .arg(config)
                .args(["-g", "daemon off;"]);
        }
        Balancer::Haproxy => {
            command.arg("-f").arg(config).arg("-db");
        }
    }
    command
}

/// Checks a rendered config with the balancer's own test flag.
pub fn check_config(
    balancer: Balancer,
    binary: &Path,
    config: &Path,
    dir: &Path,
) -> Result<(), String> {
    let mut command = Command::new(binary);
    match balancer {
        Balancer::Nginx => command.arg("-t").arg("-p").arg(dir).arg("-c").arg(config),
        Balancer::Haproxy => command.arg("-c").arg("-f").arg(config),
    };
    let output = command
        .output()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} rejects {}: {}",
            binary.display(),
            config.display(),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATES: [(&str, Balancer); 4] = [
        ("nginx.conf.tmpl", Balancer::Nginx),
        ("nginx-tls.conf.tmpl", Balancer::Nginx),
        ("haproxy.cfg.tmpl", Balancer::Haproxy),
        ("haproxy-tls.cfg.tmpl", Balancer::Haproxy),
    ];

    fn template(name: &str) -> String {
        let path = crate::root().join("deploy/lb").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Two nodes, each interface with two replicas, as `cargo xtask ha` runs them.
    fn frontends() -> Vec<Frontend> {
        let mut port = 20_000;
        let mut next = || {
            port += 1;
            format!("127.0.0.1:{port}")
        };
        let mut frontends = Vec::new();
        for node in ["node1", "node2"] {
            for binary in ["enclave", "p2p_node", "q2t_api", "thirdparty_api"] {
                frontends.push(Frontend {
                    name: format!("{node}_{binary}"),
                    listen: next(),
                    backends: vec![next(), next()],
                });
            }
        }
        frontends
    }

    /// A part of a rendered config: from the line `opening` to the end of its nginx block, or
    /// to the next blank line or HAProxy section.
    fn section<'a>(rendered: &'a str, opening: &str) -> &'a str {
        let start = rendered
            .find(opening)
            .unwrap_or_else(|| panic!("{opening} not in\n{rendered}"));
        let rest = &rendered[start..];
        let end = ["\n\n", "\n    }\n", "\nfrontend "]
            .iter()
            .filter_map(|end| rest.find(end))
            .min()
            .unwrap_or(rest.len());
        &rest[..end]
    }

    #[test]
    fn every_interface_gets_the_block_of_its_kind() {
        let dir = Path::new("/tmp/lb-test");
        for (name, _) in TEMPLATES {
            let rendered = render(&template(name), dir, &frontends()).expect(name);
            for line in rendered
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
            {
                assert!(
                    !line.contains("{{"),
                    "{name}: a placeholder is left: {line}"
                );
            }
            assert!(!rendered.contains("\n# BEGIN interface"), "{name}");
            for frontend in frontends() {
                assert!(
                    rendered.contains(&frontend.listen),
                    "{name}: {}",
                    frontend.name
                );
                for backend in &frontend.backends {
                    assert_eq!(rendered.matches(backend.as_str()).count(), 1, "{name}");
                }
            }
        }
        let nginx = render(&template("nginx.conf.tmpl"), dir, &frontends()).expect("nginx");
        // P2P and the enclave are retried on the next replica, POSTs included; sends never.
        let p2p = section(&nginx, "server 127.0.0.1:20005");
        assert!(p2p.contains("fail_timeout=10s"), "{p2p}");
        for (listen, replayed) in [("20004", true), ("20001", true), ("20007", false)] {
            let server = section(&nginx, &format!("listen 127.0.0.1:{listen};"));
            assert_eq!(server.contains("non_idempotent"), replayed, "{server}");
        }
        // A resend and a pushBatch may take up to the caller's resendWaitTime.
        let long = section(&nginx, "location ~ ^/(resend|pushBatch) {");
        assert!(long.contains("proxy_read_timeout 2h;"), "{long}");
        assert!(!long.contains(" timeout "), "{long}");
        let q2t = section(&nginx, "listen 127.0.0.1:20007;");
        assert!(q2t.contains("proxy_read_timeout 4800ms;"), "{q2t}");

        let haproxy = render(&template("haproxy.cfg.tmpl"), dir, &frontends()).expect("haproxy");
        let p2p = section(&haproxy, "\nbackend node1_p2p_node");
        assert!(p2p.contains("retry-on conn-failure empty-response response-timeout"));
        assert!(p2p.contains("timeout server 2s"), "{p2p}");
        assert!(p2p.contains("set-timeout server 2h if { path_beg /resend /pushBatch }"));
        for backend in ["node1_q2t_api", "node2_thirdparty_api"] {
            let send = section(&haproxy, &format!("\nbackend {backend}"));
            assert!(send.contains("\n    retry-on conn-failure\n"), "{send}");
            assert!(!send.contains("empty-response"), "{send}");
            assert!(send.contains("timeout server 4800ms"), "{send}");
        }
    }

    /// The constants `cargo xtask ha` computes its detection windows from are the templates'.
    #[test]
    fn the_detection_windows_are_the_templates_settings() {
        let ms = |d: Duration| d.as_millis();
        let checks = format!(
            "inter {0}ms fastinter {0}ms downinter 1s fall {1} rise 2",
            ms(HAPROXY_CHECK_INTERVAL),
            HAPROXY_FALL
        );
        let haproxy = template("haproxy.cfg.tmpl");
        let haproxy_tls = template("haproxy-tls.cfg.tmpl");
        for config in [&haproxy, &haproxy_tls] {
            assert!(config.contains(&checks), "{checks}");
            assert!(config.contains(&format!("timeout check {}ms", ms(HAPROXY_CHECK_TIMEOUT))));
        }
        let nginx = template("nginx.conf.tmpl");
        let send = ms(SEND_READ_TIMEOUT);
        assert!(nginx.contains(&format!("proxy_read_timeout {send}ms;")));
        assert!(haproxy.contains(&format!("timeout server {send}ms")));
        for (timeout, blocks) in [(P2P_READ_TIMEOUT, 1), (ENCLAVE_READ_TIMEOUT, 1)] {
            let secs = timeout.as_secs();
            assert_eq!(
                nginx
                    .matches(&format!("proxy_read_timeout {secs}s;"))
                    .count(),
                blocks,
                "nginx {secs}s"
            );
            assert_eq!(
                haproxy.matches(&format!("timeout server {secs}s")).count(),
                blocks,
                "haproxy {secs}s"
            );
        }
        assert_eq!(
            detection_window(Balancer::Haproxy, "q2t"),
            Duration::from_millis(1500)
        );
        assert_eq!(detection_window(Balancer::Nginx, "q2t"), SEND_READ_TIMEOUT);
        assert_eq!(detection_window(Balancer::Nginx, "p2p"), P2P_READ_TIMEOUT);
        assert_eq!(
            detection_window(Balancer::Nginx, "enclave"),
            ENCLAVE_READ_TIMEOUT
        );
    }

    #[test]
    fn a_frontend_of_no_known_kind_is_refused() {
        let mut odd = frontends();
        odd[0].name = "node1_something".into();
        let error = render(&template("nginx.conf.tmpl"), Path::new("/tmp"), &odd)
            .expect_err("an upstream of no known kind");
        assert!(error.contains("node1_something"), "{error}");
    }

    /// A fresh folder, removed when dropped.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new() -> Self {
            let path = std::env::temp_dir().join(format!("tm-lb-test-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("temp dir");
            Self(path)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Each rendered template passes the balancer's own check (`nginx -t`, `haproxy -c`). The
    /// TLS templates name certificate files, made here with openssl.
    #[test]
    fn the_balancers_accept_every_rendered_template() {
        let dir = TempDir::new();
        let tls = dir.path().join("tls");
        std::fs::create_dir_all(&tls).expect("tls dir");
        std::fs::create_dir_all(dir.path().join("nginx-tmp")).expect("nginx-tmp");
        let made = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=balancer"])
            .arg("-keyout")
            .arg(tls.join("key.pem"))
            .arg("-out")
            .arg(tls.join("ca.pem"))
            .output()
            .expect("openssl");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let combined = [tls.join("ca.pem"), tls.join("key.pem")]
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("pem"))
            .collect::<String>();
        std::fs::write(tls.join("balancer-combined.pem"), combined).expect("combined");
        for (name, balancer) in TEMPLATES {
            let binary = installed(balancer).expect("nginx and HAProxy are installed");
            let rendered = render(&template(name), dir.path(), &frontends()).expect(name);
            let config = dir.path().join(name.trim_end_matches(".tmpl"));
            std::fs::write(&config, rendered).expect("write");
            check_config(balancer, &binary, &config, dir.path())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
