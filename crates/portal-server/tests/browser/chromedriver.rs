//! chromedriver as a child process on a free loopback port, and the headless Chromium sessions
//! it opens for the test.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use serde_json::json;

/// chromedriver, stopped on drop (also when the test fails half-way).
pub struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    /// Starts `binary` on a free port and waits (up to 20 s) until it accepts sessions.
    pub async fn start(binary: &str) -> Self {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start chromedriver ({binary}): {error}"));
        let driver = Self { child, port };
        let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = http.get(format!("{}/status", driver.url())).send().await;
            if let Ok(answer) = status
                && let Ok(status) = answer.json::<serde_json::Value>().await
                && status["value"]["ready"] == true
            {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver ({binary}) did not get ready within 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Where chromedriver listens.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A new headless Chromium with its own empty profile (so its own cookies), 1280 px wide.
    pub async fn session(&self, profile: &std::path::Path) -> Client {
        let options = json!({
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                // Without these, Chromium's own connections are refused by the machine's closed
                // network at every start, many at a time.
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        });
        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".to_owned(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        ClientBuilder::rustls()
            .expect("a rustls connector for the WebDriver client")
            .capabilities(capabilities)
            .connect(&self.url())
            .await
            .unwrap_or_else(|error| panic!("chromedriver opened no Chromium session: {error}"))
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // `/shutdown` makes chromedriver quit its browsers too; a plain kill would leave them
        // running without a parent.
        if let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) {
            use std::io::{Read as _, Write as _};
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = stream.write_all(b"GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
