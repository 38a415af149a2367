//! The deploy plan (`scripts/deploy.sh --plan`) against the committed wrangler configs, read here
//! with a TOML parser: Cloudflare refuses a Worker whose service binding names a Worker that does
//! not exist yet, so no step may bind to a worker not deployed before it, and every worker must
//! end with exactly its committed bindings. (Runs on the host; needs no runtime.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Every committed wrangler config: worker name → the worker names it binds to.
fn committed() -> BTreeMap<String, Vec<String>> {
    let mut configs = vec![root().join("wrangler.toml")];
    for entry in std::fs::read_dir(root().join("functions")).unwrap() {
        let path = entry.unwrap().path().join("wrangler.toml");
        if path.exists() {
            configs.push(path);
        }
    }
    configs
        .iter()
        .map(|path| {
            let doc: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
            let name = doc["name"].as_str().unwrap().to_string();
            let binds = doc
                .get("services")
                .and_then(|s| s.as_array())
                .map(|list| {
                    list.iter()
                        .map(|s| s["service"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (name, binds)
        })
        .collect()
}

fn plan() -> Vec<(String, Vec<String>)> {
    let out = Command::new("bash")
        .arg(root().join("scripts/deploy.sh"))
        .arg("--plan")
        .env_remove("CLOUDFLARE_API_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "deploy.sh --plan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            assert!(
                words.len() == 4 && words[0] == "deploy" && words[2] == "binds",
                "not `deploy <worker> binds <a>,<b>`: {line:?}"
            );
            let binds = if words[3] == "-" {
                Vec::new()
            } else {
                words[3].split(',').map(str::to_string).collect()
            };
            assert!(binds.iter().all(|b| !b.is_empty()), "{line:?}");
            (words[1].to_string(), binds)
        })
        .collect()
}

#[test]
fn the_plan_never_deploys_a_worker_before_what_it_binds_to() {
    let configs = committed();
    assert!(configs.len() >= 6, "{configs:?}");
    let steps = plan();
    let mut deployed: BTreeSet<String> = BTreeSet::new();
    let mut last: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (worker, binds) in &steps {
        let committed = configs
            .get(worker)
            .unwrap_or_else(|| panic!("{worker} has no committed config"));
        for b in binds {
            assert!(
                deployed.contains(b),
                "{worker} is deployed binding {b}, which does not exist yet: {steps:?}"
            );
            assert!(committed.contains(b), "{worker} never binds {b}");
        }
        deployed.insert(worker.clone());
        last.insert(worker.clone(), binds.clone());
    }
    // Every worker is deployed and ends with exactly its committed bindings, in their order.
    assert_eq!(
        last, configs,
        "final bindings differ from the committed configs"
    );
    // The cycle (intake ⇄ scoring) is there, so a bootstrap pass is needed; and the public
    // entry goes last, once every handler it forwards to is complete.
    assert!(steps.len() > configs.len(), "{steps:?}");
    assert_eq!(steps.last().unwrap().0, "revops-edge");
}
