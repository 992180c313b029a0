//! A tiny browser over the test client: keeps cookies, submits forms with their CSRF field.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use poem::http::StatusCode;

use crate::helpers::TestApp;

/// One answer, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub headers: poem::http::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    }

    /// The `Set-Cookie` header for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().into_iter().find(|c| c.starts_with(&format!("{name}=")))
    }

    /// The CSRF field's value in the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).unwrap_or_else(|| panic!("no csrf field in {}", self.body)) + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }

    pub fn assert(&self, status: StatusCode, text: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(self.body.contains(text), "{text:?} not in {}", self.body);
    }
}

/// The cookies a browser holds for the portal's origin.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub jar: Mutex<BTreeMap<String, String>>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self { app, jar: Mutex::new(BTreeMap::new()) }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    pub fn set(&self, name: &str, value: &str) {
        self.jar.lock().unwrap().insert(name.to_owned(), value.to_owned());
    }

    fn cookie_header(&self) -> String {
        self.jar.lock().unwrap().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn finish(&self, response: poem::test::TestResponse) -> Answer {
        let status = response.0.status();
        let headers = response.0.headers().clone();
        let body = response.0.into_body().into_string().await.unwrap();
        let answer = Answer { status, headers, body };
        let mut jar = self.jar.lock().unwrap();
        for cookie in answer.set_cookies() {
            let first = cookie.split(';').next().unwrap();
            let (name, value) = first.split_once('=').unwrap();
            if cookie.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
        answer
    }

    pub async fn get(&self, path: &str) -> Answer {
        let response = self.app.client.get(path.to_owned()).header("cookie", self.cookie_header()).send().await;
        self.finish(response).await
    }

    /// `get` from a browser that prefers the languages of `accept_language`.
    pub async fn get_accepting(&self, path: &str, accept_language: &str) -> Answer {
        let request = self.app.client.get(path.to_owned()).header("cookie", self.cookie_header());
        let response = request.header("accept-language", accept_language).send().await;
        self.finish(response).await
    }

    /// Posts a form as it is (the caller includes `csrf` or not).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let response =
            self.app.client.post(path.to_owned()).header("cookie", self.cookie_header()).form(&fields).send().await;
        self.finish(response).await
    }

    /// Opens `page`, then submits its form with the page's CSRF value.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Answer {
        let form = self.get(page).await;
        let csrf = form.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }
}
