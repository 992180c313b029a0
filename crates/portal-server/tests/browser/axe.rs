//! The accessibility pass: axe-core, injected into the page through WebDriver's execute (the
//! pages' Content-Security-Policy allows no script, but Chromium runs WebDriver's scripts
//! regardless), run over the whole document; *serious* and *critical* violations fail the test.

use std::fmt::Write as _;

use fantoccini::Client;
use serde_json::Value;

/// The variable naming `axe.min.js` (from the npm package axe-core; `.ci/run` fetches it).
pub const AXE_VAR: &str = "PORTAL_TEST_AXE_JS";

/// The impacts that fail the test.
const FAILING: [&str; 2] = ["serious", "critical"];

/// axe-core's source, read once.
pub struct Axe {
    source: String,
}

impl Axe {
    /// Reads `axe.min.js` from [`AXE_VAR`]; panics with what to do when it is missing, since the
    /// browser test without its accessibility pass would pass for the wrong reason.
    pub fn from_env() -> Self {
        let path = std::env::var(AXE_VAR).unwrap_or_else(|_| {
            panic!(
                "{AXE_VAR} is not set: the browser test needs axe-core's axe.min.js for its accessibility pass \
                 (`npm pack axe-core@4.14.1 && tar xzf axe-core-4.14.1.tgz`, then {AXE_VAR}=$PWD/package/axe.min.js; \
                 .ci/run does this)"
            )
        });
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("{AXE_VAR}={path}: cannot read axe-core ({error})"));
        assert!(source.contains("axe v"), "{AXE_VAR}={path} is not axe-core's axe.min.js");
        Self { source }
    }

    /// Runs axe-core over the page `browser` shows and panics listing every serious or critical
    /// violation; `page` names the page in the report.
    pub async fn check(&self, browser: &Client, page: &str) {
        let failing = self.failing(browser, page).await;
        assert!(failing.is_empty(), "accessibility violations on {page}:\n{}", describe(&failing));
    }

    /// The serious and critical violations axe-core finds on the page `browser` shows.
    pub async fn failing(&self, browser: &Client, page: &str) -> Vec<Value> {
        let loaded = browser.execute("return typeof window.axe === 'object'", Vec::new()).await.expect("a script runs");
        if loaded != Value::Bool(true) {
            browser.execute(&self.source, Vec::new()).await.expect("axe-core loads into the page");
        }
        let result = browser
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(results => done({
                        violations: results.violations,
                        rules: results.passes.length + results.violations.length + results.incomplete.length,
                    }))
                    .catch(error => done({ error: String(error) }));",
                Vec::new(),
            )
            .await
            .expect("axe-core runs");
        if let Some(error) = result.get("error") {
            panic!("axe-core failed on {page}: {error}");
        }
        // A page where axe applied no rule at all means axe did not see the page.
        assert!(
            result["rules"].as_u64().is_some_and(|rules| rules > 0),
            "axe-core checked nothing on {page}: {result}"
        );
        let violations = result["violations"].as_array().expect("axe-core's violations");
        violations
            .iter()
            .filter(|violation| violation["impact"].as_str().is_some_and(|impact| FAILING.contains(&impact)))
            .cloned()
            .collect()
    }
}

/// One paragraph per violation: rule, impact, what it means, and every element with axe's summary.
fn describe(violations: &[Value]) -> String {
    let mut out = String::new();
    for violation in violations {
        let _ = writeln!(
            out,
            "- [{}] {}: {} ({})",
            violation["impact"].as_str().unwrap_or("?"),
            violation["id"].as_str().unwrap_or("?"),
            violation["help"].as_str().unwrap_or(""),
            violation["helpUrl"].as_str().unwrap_or(""),
        );
        for node in violation["nodes"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "    at {}: {}",
                node["target"],
                node["failureSummary"].as_str().unwrap_or("").replace('\n', " ")
            );
        }
    }
    out
}
