//! The `tandem` binary, run as a user runs it.

mod crash_drill;

use std::process::{Command, Output};

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(args)
            .env("TANDEM_DATABASE__URL", format!("sqlite://{}/t.db", self.dir.path().display()))
            .env_remove("TANDEM_CONFIG")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

#[test]
fn workspace_apikey_and_import_from_the_command_line() {
    let cli = Cli::new();
    let out = cli.ok(&[
        "workspace",
        "create",
        "Acme",
        "--country",
        "FR",
        "--admin-email",
        "admin@acme.io",
        "--admin-password",
        "correct horse battery",
    ]);
    let ws = out.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_string();
    assert!(out.contains("admin ") && out.contains("admin@acme.io"), "{out}");
    assert!(cli.ok(&["workspace", "list"]).contains(&format!("{ws}\tAcme\tFR")));

    let key = cli.ok(&["apikey", "create", "--workspace", &ws, "--name", "zapier", "--role", "staff"]);
    assert!(key.trim().starts_with("tdm_"), "{key}");

    let csv = cli.dir.path().join("people.csv");
    std::fs::write(&csv, "Prénom,Courriel,Mobile,Groupes\nAna,ana@acme.io,06 12 34 56 78,VIP\nBob,not-an-email,,\n").unwrap();
    let path = csv.to_str().unwrap();
    let dry = cli.ok(&["contacts", "import", path, "--workspace", &ws, "--map", "Groupes=labels", "--dry-run"]);
    assert!(dry.starts_with("dry run: rows 2, created 1, updated 0, merged 0, failed 1"), "{dry}");
    assert!(dry.contains("row 3\tCourriel\tinvalid_email\t`not-an-email` is not an e-mail address"), "{dry}");
    let real = cli.ok(&["contacts", "import", path, "--workspace", &ws, "--map", "Groupes=labels"]);
    assert!(real.starts_with("rows 2, created 1,"), "{real}");
    let again = cli.ok(&["contacts", "import", path, "--workspace", &ws, "--map", "Groupes=labels"]);
    assert!(again.starts_with("rows 2, created 0, updated 1,"), "{again}");

    // Errors are messages, not panics.
    let bad = cli.run(&["contacts", "import", path, "--workspace", &ws, "--map", "Groupes"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`Groupes` is not Header=field"));
    let missing = cli.run(&["apikey", "create", "--workspace", "01a00000-0000-7000-8000-000000000000"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("workspace not found"), "{}", String::from_utf8_lossy(&missing.stderr));
}

#[test]
fn bad_configuration_is_reported() {
    let cli = Cli::new();
    let cfg = cli.dir.path().join("tandem.toml");
    std::fs::write(&cfg, "[server]\nbnd = \"x\"\n").unwrap();
    let out = cli.run(&["--config", cfg.to_str().unwrap(), "workspace", "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_knowledge_base_is_filled_and_searched_from_the_command_line() {
    let cli = Cli::new();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(args)
            .env("TANDEM_DATABASE__URL", format!("sqlite://{}/t.db", cli.dir.path().display()))
            .env("TANDEM_KNOWLEDGE__DATA_DIR", cli.dir.path().join("knowledge"))
            .env_remove("TANDEM_CONFIG")
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (_, out, _) = run(&["workspace", "create", "Lumen"]);
    let ws = out.split_whitespace().nth(1).unwrap().to_string();
    let (ok, agent, err) = run(&["kb", "create-agent", "--workspace", &ws, "Support"]);
    assert!(ok, "{err}");
    let agent = agent.trim().to_string();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/kb");
    let (faq, bomb) = (format!("{fixtures}/demo/faq.txt"), format!("{fixtures}/hostile/zip-bomb.xlsx"));

    // One good file and one hostile: the good one is searchable, the other fails with its reason
    // and the command says so in its exit status.
    let (ok, _, err) = run(&["kb", "ingest", "--workspace", &ws, "--agent", &agent, &faq, &bomb]);
    assert!(!ok, "a failed source makes the command fail");
    assert!(err.contains("done,") && err.contains("failed: file_too_complex"), "{err}");
    assert!(err.contains("1 source(s) could not be added"), "{err}");
    let (ok, list, _) = run(&["kb", "sources", "--workspace", &ws, "--agent", &agent]);
    assert!(ok && list.contains("faq.txt\tdone\t100%") && list.contains("zip-bomb.xlsx\tfailed"), "{list}");
    let (ok, hits, err) = run(&["kb", "search", "--workspace", &ws, "--agent", &agent, "--limit", "2", "discount code for new customers"]);
    assert!(ok, "{err}");
    assert!(hits.contains("faq.txt") && hits.contains("BONJOUR10"), "{hits}");
}
