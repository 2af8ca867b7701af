//! A real headless Chromium for the browser suite: Debian's `chromium` driven through its
//! `chromedriver`, one at a time.
//!
//! [`run`] starts chromedriver on a free loopback port, opens a browser session with a fresh
//! profile and a fixed window size (stable screenshots), hands the test a [`Page`], and closes
//! the session and the driver afterwards, also when the test panics. When chromedriver or
//! Chromium is not installed, the test prints why it did not run and passes, unless
//! `ROSTER_BROWSER_TESTS=required` (as in CI), when it fails.
//!
//! Environment:
//!
//! | variable | meaning |
//! |---|---|
//! | `ROSTER_BROWSER_TESTS=required` | a missing browser fails the test instead of skipping it |
//! | `ROSTER_CHROMEDRIVER`, `ROSTER_CHROMIUM` | the binaries to use (default: `PATH`, then `/usr/bin`) |
//! | `ROSTER_SCREENSHOTS=DIR` | [`Page::screenshot`] writes PNGs there; otherwise nowhere |

use std::future::Future;
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// The window every test gets: wide enough for the console's tables, and the same on every run
/// so that the README's screenshots stay comparable.
const WINDOW: (u32, u32) = (1280, 900);

/// How long any wait for the page may take before the test fails. Generous: a debug build of
/// the server and a cold Chromium on two busy cores are slow, but a page that never shows what
/// it should must still fail the test rather than hang it.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// What a skipped run prints: plainly, so that nobody mistakes a pass for a browser run.
const NOT_INSTALLED: &str = "browser suite not run: chromium/chromedriver not installed \
                             (apt-get install chromium chromium-driver)";

/// One browser at a time: each is a chromedriver and a Chromium with its renderer and GPU
/// processes, and two of them at once make a two-core machine crawl (and the other suites'
/// timing-sensitive tests with it). An async mutex, since each test has its own runtime.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// Runs `test` against a fresh headless Chromium, or reports that it could not and returns.
///
/// The test body runs in a task of its own so that a failed assertion still lets the browser
/// session end cleanly before the panic is passed on.
pub(crate) async fn run<F, Fut>(test: F)
where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(binaries) = Binaries::find() else {
        if required() {
            panic!("{NOT_INSTALLED}, and ROSTER_BROWSER_TESTS=required");
        }
        // Straight to stderr: `eprintln!` is captured, and so hidden, for a passing test, and
        // this must be seen in the output of a plain `cargo test`.
        let _ = writeln!(std::io::stderr(), "{NOT_INSTALLED}");
        return;
    };
    let _turn = ONE_AT_A_TIME.lock().await;
    let driver = Driver::start(&binaries.chromedriver).await;
    let profile = tempfile::tempdir().expect("a temporary Chromium profile");
    let client = connect(&driver.url, &binaries.chromium, profile.path()).await;
    let outcome = tokio::spawn(test(Page {
        client: client.clone(),
    }))
    .await;
    // Ends the session, which also quits Chromium; the driver goes with `driver`'s drop.
    let _ = client.close().await;
    drop(driver);
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("the browser test did not finish: {e}"),
        }
    }
}

/// `ROSTER_BROWSER_TESTS=required`: CI, where a silently skipped suite would be a lie.
fn required() -> bool {
    std::env::var("ROSTER_BROWSER_TESTS").is_ok_and(|v| v == "required")
}

/// Where chromedriver and Chromium are.
#[derive(Debug)]
struct Binaries {
    chromedriver: PathBuf,
    chromium: PathBuf,
}

impl Binaries {
    /// Both binaries, or `None` when either is missing.
    fn find() -> Option<Self> {
        Some(Self {
            chromedriver: locate("ROSTER_CHROMEDRIVER", "chromedriver")?,
            chromium: locate("ROSTER_CHROMIUM", "chromium")?,
        })
    }
}

/// `$VAR` if set (and then only that: an override that points nowhere means "not installed",
/// which is how the skip path is tested), else `name` on `PATH`, else `/usr/bin/name`.
fn locate(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        return is_executable(&path).then_some(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A running chromedriver, killed on drop.
#[derive(Debug)]
struct Driver {
    url: String,
    child: Child,
}

impl Driver {
    /// Starts chromedriver on a free port and waits until it says it is ready.
    async fn start(path: &Path) -> Self {
        // The port is free when asked; chromedriver takes it a moment later. Nothing else on
        // this machine is racing for ephemeral loopback ports in between.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that drop can end Chromium too if the session could
            // not be closed (a browser left behind would hold a core busy).
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", path.display()));
        let driver = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        driver.wait_until_ready().await;
        driver
    }

    /// Polls `GET /status` until chromedriver reports `ready`.
    async fn wait_until_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let status = client.get(format!("{}/status", self.url)).send().await;
            if let Ok(response) = status
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {} within {PATIENCE:?}",
                self.url
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and any Chromium it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens a browser session: headless, with the flags that keep Chromium off the network (it
/// would keep trying hosts this machine cannot reach), a fresh profile and a fixed window.
async fn connect(driver: &str, chromium: &Path, profile: &Path) -> Client {
    let (width, height) = WINDOW;
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--hide-scrollbars".to_owned(),
        "--force-device-scale-factor=1".to_owned(),
        format!("--window-size={width},{height}"),
        format!("--user-data-dir={}", profile.display()),
    ];
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": chromium, "args": args},
        // A page that does not load fails the test within the wait budget, not after 5 min.
        "timeouts": {"pageLoad": PATIENCE.as_millis(), "script": PATIENCE.as_millis()},
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!("a JSON object literal")
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(driver)
        .await
        .unwrap_or_else(|e| panic!("open a Chromium session through {driver}: {e}"));
    let page = Page { client };
    page.resize_viewport(width, height).await;
    page.client
}

/// The browser, as a test sees it: navigation, waits with a deadline, and what is on screen.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    /// The WebDriver session, for anything the helpers below do not cover.
    pub(crate) client: Client,
}

impl Page {
    /// Loads `url` and waits for it.
    pub(crate) async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("load {url}: {e}"));
    }

    /// The path (and query) the browser is on.
    pub(crate) async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits until `css` matches an element and returns it.
    pub(crate) async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no element matches '{css}' on {} within {PATIENCE:?} ({e}); the page says:\n{}",
                self.path().await,
                self.visible_text().await
            ),
        }
    }

    /// Every element `css` matches now (no wait).
    pub(crate) async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find '{css}': {e}"))
    }

    /// Whether `css` matches anything now (no wait).
    pub(crate) async fn exists(&self, css: &str) -> bool {
        !self.find_all(css).await.is_empty()
    }

    /// The rendered text of the first element `css` matches, once there.
    pub(crate) async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// A form field's current value.
    pub(crate) async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .expect("field value")
            .unwrap_or_default()
    }

    /// Waits until the element `css` shows text containing `needle`; returns all its text.
    pub(crate) async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        self.wait_until(css, |text| text.contains(needle), &format!("'{needle}'"))
            .await
    }

    /// Waits until the element `css` exists and its text passes `ok`; returns the text.
    pub(crate) async fn wait_until(
        &self,
        css: &str,
        ok: impl Fn(&str) -> bool,
        what: &str,
    ) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut last = String::new();
        loop {
            // The element may be replaced between the lookup and the read (a re-render): that
            // is a miss to retry, not a failure.
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if ok(&text) {
                    return text;
                }
                last = text;
            }
            assert!(
                Instant::now() < deadline,
                "'{css}' on {} did not show {what} within {PATIENCE:?}; it shows:\n{last}",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the browser is on `path` (ignoring the query); returns the full path.
    pub(crate) async fn wait_for_path(&self, path: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let now = self.path().await;
            if now.split('?').next() == Some(path) {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "still on {now}, not {path}, after {PATIENCE:?}; the page says:\n{}",
                self.visible_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Replaces a field's value with `text`, typed as a person would.
    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear field");
        field.send_keys(text).await.expect("type into field");
    }

    /// Sets a field's value at once and tells the page, as typing would. For long or
    /// multi-line values (a code editor's textarea) where `send_keys` would be slow and
    /// auto-indentation could alter what lands.
    pub(crate) async fn set_value(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        let field = serde_json::to_value(&field).expect("element reference");
        self.client
            .execute(
                "const f = arguments[0]; f.value = arguments[1]; \
                 f.dispatchEvent(new Event('input', {bubbles: true})); \
                 f.dispatchEvent(new Event('change', {bubbles: true}));",
                vec![field, Value::String(text.to_owned())],
            )
            .await
            .expect("set field value");
    }

    /// Clicks the first element `css` matches, once there.
    pub(crate) async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click '{css}': {e}"));
    }

    /// The text of `css` on `url`, read in a new tab that is then closed: a look elsewhere that
    /// leaves this tab as it was (a page that was the answer to a form cannot be gone back to
    /// without sending the form again).
    pub(crate) async fn text_in_new_tab(&self, url: &str, css: &str) -> String {
        let here = self.client.window().await.expect("this tab");
        let tab = self.client.new_window(true).await.expect("open a tab");
        self.client
            .switch_to_window(tab.handle)
            .await
            .expect("switch to the new tab");
        self.goto(url).await;
        let text = self.text(css).await;
        self.client.close_window().await.expect("close the tab");
        self.client
            .switch_to_window(here)
            .await
            .expect("switch back");
        text
    }

    /// Everything the page shows, for failure messages and content assertions.
    pub(crate) async fn visible_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Makes the page's viewport `width` × `height` CSS pixels: the window is that much larger
    /// as the browser's own frame takes, which only the page itself can tell.
    async fn resize_viewport(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("set the window size");
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .expect("read the viewport size");
        let px = |i: usize| {
            inner[i]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .expect("a viewport dimension")
        };
        let (frame_w, frame_h) = (width.saturating_sub(px(0)), height.saturating_sub(px(1)));
        if frame_w > 0 || frame_h > 0 {
            self.client
                .set_window_size(width + frame_w, height + frame_h)
                .await
                .expect("set the window size");
        }
    }

    /// Saves a PNG of the whole page as `{name}.png` in `$ROSTER_SCREENSHOTS`, when that is
    /// set; otherwise does nothing (tests never write into the source tree on their own).
    ///
    /// The window grows to the page's height for the shot (up to a limit) and is restored
    /// afterwards, so a long page is not cut off at the fold.
    pub(crate) async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("ROSTER_SCREENSHOTS") else {
            return;
        };
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let (width, height) = WINDOW;
        // From the top, whatever a click or a focused field scrolled to.
        self.client
            .execute("window.scrollTo(0, 0);", vec![])
            .await
            .expect("scroll to the top");
        let content = self
            .client
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .ok()
            .and_then(|h| h.as_u64())
            .and_then(|h| u32::try_from(h).ok())
            .unwrap_or(height);
        let tall = content.clamp(height, 2400);
        if tall != height {
            self.resize_viewport(width, tall).await;
        }
        let png = self.client.screenshot().await.expect("take a screenshot");
        if tall != height {
            self.resize_viewport(width, height).await;
        }
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        eprintln!("screenshot: {}", path.display());
    }
}
