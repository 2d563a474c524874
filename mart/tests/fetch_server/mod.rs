//! A tiny HTTP/1.1 server on the loopback interface for the fetch tests: GET with `Range:
//! bytes=START-`, 404s, and a route that drops the connection halfway. Every request is logged.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What the server does for one path.
pub enum Route {
    /// Serves the bytes (206 for a range request).
    File(Vec<u8>),
    /// Serves the whole bytes with 200, ignoring any `Range` header (as some servers do).
    NoRanges(Vec<u8>),
    /// Answers 404.
    NotFound,
    /// For the first `times` requests, announces the whole (remaining) length, sends `cut`
    /// bytes and closes the connection; serves the bytes normally afterwards.
    DropAfter {
        bytes: Vec<u8>,
        cut: usize,
        times: usize,
    },
}

/// One request as received: the path and the `Range` header, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub path: String,
    pub range: Option<String>,
}

/// A running server; it lives until the test process ends.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: Arc<Mutex<Vec<Logged>>>,
}

/// A route and the number of requests it has answered.
struct Entry {
    route: Route,
    served: AtomicUsize,
}

impl Server {
    /// Starts serving `routes` (path -> route); unknown paths get 404.
    pub fn start(routes: Vec<(String, Route)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<HashMap<String, Entry>> = Arc::new(
            routes
                .into_iter()
                .map(|(path, route)| {
                    let entry = Entry {
                        route,
                        served: AtomicUsize::new(0),
                    };
                    (path, entry)
                })
                .collect(),
        );
        let log = Arc::new(Mutex::new(Vec::new()));
        let server_log = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (routes, log) = (routes.clone(), server_log.clone());
                std::thread::spawn(move || handle(stream, &routes, &log));
            }
        });
        Server { base, log }
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }

    /// The requests for `path`.
    pub fn requests_for(&self, path: &str) -> Vec<Logged> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

/// Answers one connection (one request; the connection closes after it).
fn handle(stream: TcpStream, routes: &HashMap<String, Entry>, log: &Mutex<Vec<Logged>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap() == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_string());
        }
    }
    log.lock().unwrap().push(Logged {
        path: path.clone(),
        range: range.clone(),
    });
    let mut out = stream;
    let Some(entry) = routes.get(&path) else {
        return respond(&mut out, "404 Not Found", &[], b"not here");
    };
    let served = entry.served.fetch_add(1, Ordering::SeqCst);
    match &entry.route {
        Route::NotFound => respond(&mut out, "404 Not Found", &[], b"not here"),
        Route::File(bytes) => serve(&mut out, bytes, range.as_deref(), None),
        Route::NoRanges(bytes) => serve(&mut out, bytes, None, None),
        Route::DropAfter { bytes, cut, times } => {
            let cut = (served < *times).then_some(*cut);
            serve(&mut out, bytes, range.as_deref(), cut)
        }
    }
}

/// Serves `bytes` (from the range's start, if any); with `cut`, only that many body bytes
/// before closing.
fn serve(out: &mut TcpStream, bytes: &[u8], range: Option<&str>, cut: Option<usize>) {
    let start = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .map(|s| s.parse::<usize>().unwrap());
    let (status, body, extra) = match start {
        Some(s) if s >= bytes.len() => {
            return respond(out, "416 Range Not Satisfiable", &[], b"");
        }
        Some(s) => (
            "206 Partial Content",
            &bytes[s..],
            vec![format!(
                "Content-Range: bytes {s}-{}/{}",
                bytes.len() - 1,
                bytes.len()
            )],
        ),
        None => ("200 OK", bytes, vec![]),
    };
    match cut {
        None => respond(out, status, &extra, body),
        Some(cut) => {
            write_head(out, status, &extra, body.len());
            let _ = out.write_all(&body[..cut.min(body.len())]);
            let _ = out.flush();
            let _ = out.shutdown(Shutdown::Both);
        }
    }
}

/// Writes the status line and headers for a body of `len` bytes.
fn write_head(out: &mut TcpStream, status: &str, extra: &[String], len: usize) {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n");
    for header in extra {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
}

/// A whole response, then the connection closes.
fn respond(out: &mut TcpStream, status: &str, extra: &[String], body: &[u8]) {
    write_head(out, status, extra, body.len());
    let _ = out.write_all(body);
    let _ = out.flush();
    let _ = out.shutdown(Shutdown::Both);
}
