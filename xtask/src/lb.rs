//! Renders the load-balancer templates of `deploy/lb/` and runs the balancer.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Which balancer.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Balancer {
    /// Open-source nginx with passive checks.
    Nginx,
    /// HAProxy with active `/upcheck` checks.
    Haproxy,
}

/// One balanced interface: its name, where the balancer listens, the replicas, the check path.
#[derive(Clone, Debug)]
pub struct Frontend {
    /// Upstream name, e.g. `node1_p2p`.
    pub name: String,
    /// `127.0.0.1:port` the balancer listens on (the advertised address).
    pub listen: String,
    /// `127.0.0.1:port` of each replica.
    pub backends: Vec<String>,
    /// Health check path (HAProxy).
    pub check: &'static str,
}

/// Fills a template: the `# BEGIN interface` .. `# END interface` block once per frontend,
/// `{{SERVER}}` lines once per backend.
pub fn render(template: &str, dir: &Path, frontends: &[Frontend]) -> Result<String, String> {
    let begin = template
        .find("# BEGIN interface\n")
        .ok_or("template has no '# BEGIN interface' line")?;
    let end = template
        .find("# END interface\n")
        .ok_or("template has no '# END interface' line")?;
    let block = &template[begin + "# BEGIN interface\n".len()..end];
    let mut body = String::new();
    for frontend in frontends {
        for line in block.lines() {
            if let Some(server) = line.strip_prefix("{{SERVER}}") {
                for (i, backend) in frontend.backends.iter().enumerate() {
                    body.push_str(
                        &server
                            .replace("{{ADDRESS}}", backend)
                            .replace("{{ID}}", &format!("r{}", i + 1)),
                    );
                    body.push('\n');
                }
            } else {
                body.push_str(
                    &line
                        .replace("{{NAME}}", &frontend.name)
                        .replace("{{LISTEN}}", &frontend.listen)
                        .replace("{{CHECK}}", frontend.check),
                );
                body.push('\n');
            }
        }
    }
    let rendered = format!(
        "{}{}{}",
        &template[..begin],
        body,
        &template[end + "# END interface\n".len()..]
    );
    Ok(rendered.replace("{{DIR}}", &dir.display().to_string()))
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

fn ensure_binary(balancer: Balancer) -> Result<PathBuf, String> {
    let (binary, package) = match balancer {
        Balancer::Nginx => ("nginx", "nginx-light"),
        Balancer::Haproxy => ("haproxy", "haproxy"),
    };
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin"] {
        let path = Path::new(dir).join(binary);
        if path.exists() {
            return Ok(path);
        }
    }
    apt_install(package)?;
    // The package starts a system-wide instance on port 80; this cluster needs none.
    let _ = Command::new("service").args([binary, "stop"]).status();
    ["/usr/sbin", "/usr/bin"]
        .iter()
        .map(|d| Path::new(d).join(binary))
        .find(|p| p.exists())
        .ok_or_else(|| format!("{binary} not found after installing {package}"))
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
