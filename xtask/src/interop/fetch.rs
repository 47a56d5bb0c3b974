//! Getting a runnable Java Tessera: from Maven Central through `mvn`, into `target/interop/`
//! (nothing of Tessera is committed), or from a distribution an operator unpacked already.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Tessera's Maven group (the Java project publishes under it since it moved to ConsenSys).
pub const GROUP: &str = "net.consensys.quorum.tessera";
/// The H2 driver fetched beside the module jars (the distribution bundles its own).
const H2: &str = "com.h2database:h2:2.2.224";
/// A dependency plugin recent enough to copy by coordinates from a generated pom.
const DEPENDENCY_PLUGIN: &str = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1";

/// How to start Java Tessera.
#[derive(Clone, Debug)]
pub enum JavaTessera {
    /// An unpacked distribution: `bin/tessera` (Gradle's start script, which sets the module
    /// path and the JVM flags Tessera needs).
    Script(PathBuf),
    /// Module jars in a folder: started with `java --module-path` as the start script does.
    ModulePath(PathBuf),
}

impl JavaTessera {
    /// A command that runs Tessera with `args`.
    pub fn command(&self, args: &[&str]) -> Command {
        match self {
            Self::Script(script) => {
                let mut command = Command::new(script);
                command.args(args);
                command
            }
            Self::ModulePath(lib) => {
                let mut command = Command::new(java());
                // The JVM flags of tessera-dist's `application` block (build.gradle).
                command
                    .arg("-Dtessera.cli.type=CONFIG")
                    .arg("-Djnr.ffi.asm.enabled=false")
                    .arg("-Djakarta.xml.bind.JAXBContextFactory=org.eclipse.persistence.jaxb.JAXBContextFactory")
                    .arg("-Djakarta.xml.bind.context.factory=org.eclipse.persistence.jaxb.JAXBContextFactory")
                    .arg("--add-opens=org.glassfish.json.jaxrs/org.glassfish.json.jaxrs=org.glassfish.hk2.utilities")
                    .arg("--module-path")
                    .arg(lib)
                    .arg("--module")
                    .arg("tessera.application/com.quorum.tessera.launcher.Main")
                    .args(args);
                command
            }
        }
    }
}

/// `$JAVA_HOME/bin/java`, else `java` on the path.
fn java() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .map(|home| PathBuf::from(home).join("bin/java"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("java"))
}

/// Uses an unpacked distribution folder (`bin/tessera` or `lib/*.jar`).
pub fn from_dist(dir: &Path) -> Result<JavaTessera, String> {
    let script = dir.join("bin/tessera");
    if script.is_file() {
        return Ok(JavaTessera::Script(script));
    }
    let lib = dir.join("lib");
    if lib.is_dir() {
        return Ok(JavaTessera::ModulePath(lib));
    }
    Err(format!(
        "{} holds neither bin/tessera nor lib/ (expected an unpacked Tessera distribution)",
        dir.display()
    ))
}

/// Fetches Tessera `version` with Maven into `work`. On failure, returns one line per thing
/// tried and why it failed.
pub fn from_maven(version: &str, work: &Path) -> Result<JavaTessera, Vec<String>> {
    let mut tried = Vec::new();
    if Command::new("mvn").arg("-v").output().is_err() {
        tried.push("mvn is not installed".to_owned());
        return Err(tried);
    }
    let home = work.join(format!("tessera-{version}"));
    // A previous run's download.
    if let Ok(found) = from_dist(&home) {
        return Ok(found);
    }
    if let Err(e) = std::fs::create_dir_all(work) {
        tried.push(format!("cannot create {}: {e}", work.display()));
        return Err(tried);
    }

    // 1. The distribution archive tessera-dist publishes (Gradle `distTar`): bin/ and lib/.
    let archive = format!("{GROUP}:tessera-dist:{version}:tar");
    let download = format!("-DoutputDirectory={}", work.join("download").display());
    match maven(
        work,
        "copy",
        &[&format!("-Dartifact={archive}"), &download],
        &[],
    ) {
        Ok(()) => {
            let tar = work.join(format!("download/tessera-dist-{version}.tar"));
            match unpack(&tar, &home) {
                Ok(found) => return Ok(found),
                Err(e) => tried.push(format!("{archive}: fetched, but {e}")),
            }
        }
        Err(e) => tried.push(format!("{archive}: {e}")),
    }

    // 2. The application module with its runtime dependencies and an H2 driver.
    let app = format!("{GROUP}:tessera-app:{version}");
    let lib = home.join("lib");
    let deps = [app.as_str(), H2];
    match maven(
        work,
        "copy-dependencies",
        &[
            &format!("-DoutputDirectory={}", lib.display()),
            "-DincludeScope=runtime",
        ],
        &deps,
    ) {
        Ok(()) => return Ok(JavaTessera::ModulePath(lib)),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&lib);
            tried.push(format!("{app} (+ {H2}) with runtime dependencies: {e}"));
        }
    }
    Err(tried)
}

/// Writes `work/pom.xml` declaring `dependencies` and runs one goal of the dependency plugin on
/// it (batch mode; output in `work/maven-<goal>.log`).
fn maven(work: &Path, goal: &str, props: &[&str], dependencies: &[&str]) -> Result<(), String> {
    let pom = work.join("pom.xml");
    std::fs::write(&pom, pom_xml(dependencies))
        .map_err(|e| format!("cannot write {}: {e}", pom.display()))?;
    let log = work.join(format!("maven-{goal}.log"));
    let output = Command::new("mvn")
        .arg("-B")
        .arg("-f")
        .arg(&pom)
        .arg(format!("{DEPENDENCY_PLUGIN}:{goal}"))
        .args(props)
        .output()
        .map_err(|e| format!("cannot run mvn: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let _ = std::fs::write(&log, &text);
    if output.status.success() {
        return Ok(());
    }
    // Maven's first error line says what could not be found; the log keeps the rest.
    let first_error = text
        .lines()
        .find(|l| l.starts_with("[ERROR]") && l.len() > 8)
        .map(|l| l.trim_start_matches("[ERROR]").trim().to_owned())
        .unwrap_or_default();
    let reason = if first_error.contains("Could not transfer") {
        format!(
            "the repository could not be reached: {}",
            first_error.chars().take(300).collect::<String>()
        )
    } else if first_error.contains("was not found in")
        || first_error.contains("Could not find artifact")
        || first_error.contains("Could not resolve dependencies")
    {
        "not served by the repository".to_owned()
    } else if first_error.is_empty() {
        format!("mvn failed ({})", output.status)
    } else {
        first_error.chars().take(300).collect()
    };
    Err(format!("{reason} (log: {})", log.display()))
}

/// A throw-away project whose only purpose is to name what Maven should fetch.
fn pom_xml(dependencies: &[&str]) -> String {
    let mut deps = String::new();
    for coordinates in dependencies {
        let parts: Vec<&str> = coordinates.split(':').collect();
        if let [group, artifact, version] = parts[..] {
            deps.push_str(&format!(
                "    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>\
                 <version>{version}</version></dependency>\n"
            ));
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!-- Written by `cargo xtask interop`: fetches Java Tessera for the mixed-network test. -->\n\
         <project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n\
         \x20 <modelVersion>4.0.0</modelVersion>\n\
         \x20 <groupId>tm.interop</groupId>\n\
         \x20 <artifactId>tessera-fetch</artifactId>\n\
         \x20 <version>0</version>\n\
         \x20 <packaging>pom</packaging>\n\
         \x20 <dependencies>\n{deps}  </dependencies>\n\
         </project>\n"
    )
}

/// Unpacks a distribution tar into `home` (its single top folder stripped).
fn unpack(tar: &Path, home: &Path) -> Result<JavaTessera, String> {
    std::fs::create_dir_all(home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    let status = Command::new("tar")
        .arg("-xf")
        .arg(tar)
        .arg("-C")
        .arg(home)
        .arg("--strip-components=1")
        .status()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if !status.success() {
        return Err(format!("tar could not unpack {} ({status})", tar.display()));
    }
    from_dist(home)
}
