//! The pinned Python tools `make test-tools` installs (tests/contract/requirements.txt): real
//! servers and AWS's own signer, run by the tests as child processes they stop by pid.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The virtual environment's Python, or a failure that says how to get it.
pub fn python(module: &str) -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-tools/venv/bin/python");
    let ok = python.exists() && Command::new(&python).args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
    assert!(ok, "the Python module `{module}` is missing: run `make test-tools` (make test runs it)");
    python
}

/// The AWS tests' virtual environment (`tests/contract/aws-requirements.txt`): the real AWS CLI,
/// moto, and the botocore they pin.
pub fn aws_venv() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-tools/aws-venv/bin");
    let ok = venv.join("aws").exists()
        && Command::new(venv.join("python")).args(["-c", "import botocore, moto"]).status().is_ok_and(|s| s.success());
    assert!(ok, "the AWS CLI and moto are missing: run `make test-tools` (make test runs it)");
    venv
}

/// The Google Cloud tests' virtual environment (`tests/contract/gcp-requirements.txt`): Google's
/// discovery documents, its official Cloud Build client, and google-auth.
pub fn gcp_venv() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-tools/gcp-venv/bin");
    let ok = Command::new(venv.join("python"))
        .args(["-c", "import googleapiclient, google.cloud.devtools.cloudbuild_v1, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "google-api-python-client and google-cloud-build are missing: run `make test-tools` (make test runs it)");
    venv
}

/// A command's exit code, standard output and standard error.
pub fn outcome(out: std::process::Output) -> (i32, String, String) {
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// POSTs `body` to a double's `/_control/{what}`; its JSON answer (Null when it is not JSON).
pub fn control(port: u16, what: &str, body: &serde_json::Value) -> serde_json::Value {
    use std::io::{Read, Write};
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "POST /_control/{what} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    serde_json::from_str(text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("{}")).unwrap_or(serde_json::Value::Null)
}

pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/contract").join(name)
}

/// A server started from a script that prints its port on its first line once it listens.
pub struct Server {
    pub port: u16,
    child: Child,
}

impl Server {
    pub fn start(module: &str, script_name: &str, args: &[&str]) -> Server {
        Server::start_with(python(module), script_name, args)
    }

    pub fn start_with(python: PathBuf, script_name: &str, args: &[&str]) -> Server {
        let mut child =
            Command::new(python).arg(script(script_name)).args(args).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let port = first.trim().parse().unwrap_or_else(|_| panic!("{script_name} did not start: {first:?}"));
        Server { port, child }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test CA and a certificate for 127.0.0.1 signed by it, as PEM files in `dir`: (ca, cert, key).
pub fn test_certificates(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca = super::github::test_ca::issue();
    let paths = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&paths.0, &ca.ca_pem).unwrap();
    std::fs::write(&paths.1, ca.cert.pem()).unwrap();
    std::fs::write(&paths.2, ca.key.serialize_pem()).unwrap();
    paths
}

/// The body of `GET path` from a server on loopback (HTTP/1.0, read to the end).
pub fn get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

/// A loopback HTTP server answering each request by `answer(method, path, headers)` (status, body),
/// for AWS's credential endpoints. Lives as long as the value.
pub struct Endpoint {
    pub url: String,
    _stop: std::sync::mpsc::Sender<()>,
}

impl Endpoint {
    pub fn start(answer: impl Fn(&str, &str, &str) -> (u16, String) + Send + 'static) -> Endpoint {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            loop {
                if !matches!(stopped.try_recv(), Err(std::sync::mpsc::TryRecvError::Empty)) {
                    return;
                }
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap_or(0);
                let mut headers = String::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    headers.push_str(&h.to_ascii_lowercase());
                }
                let mut parts = first.split_whitespace();
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let (status, body) = answer(method, path, &headers);
                let mut stream = stream;
                let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            }
        });
        Endpoint { url, _stop: stop }
    }
}
