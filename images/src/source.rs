// SPDX-License-Identifier: GPL-2.0
//! Where `fetch` reads images from: the storage node's image store, as a
//! directory (a shared file system) or over plain HTTP (any static file
//! server over the store's directory, e.g. `python3 -m http.server`).
//! Only rank 0 reads, and only the chunks some node lacks; every byte read
//! is counted so that a deployment can report its load on the storage node.

use crate::error::{err, Result};
use crate::hash::Digest;
use crate::store::Store;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// How long a storage request may stall before the deployment fails.
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

/// The storage node's image store.
#[derive(Debug)]
pub enum Source {
    Dir(Store),
    Http {
        host: String,
        port: u16,
        prefix: String,
    },
}

impl Source {
    /// `http://HOST[:PORT][/PREFIX]` or a directory path.
    pub fn parse(text: &str) -> Result<Source> {
        let Some(rest) = text.strip_prefix("http://") else {
            return Ok(Source::Dir(Store::open(Path::new(text))?));
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse()
                    .map_err(|_| err(format!("bad port in {text:?}")))?,
            ),
            None => (authority, 80),
        };
        if host.is_empty() {
            return Err(err(format!("no host in {text:?}")));
        }
        Ok(Source::Http {
            host: host.to_string(),
            port,
            prefix: prefix.to_string(),
        })
    }

    /// The manifest bytes of image `digest`, unchecked.
    pub fn manifest(&self, digest: &Digest) -> Result<Vec<u8>> {
        match self {
            Source::Dir(store) => store.read_manifest_bytes(digest)?.ok_or_else(|| {
                err(format!(
                    "image {digest} is not in {}",
                    store.root().display()
                ))
            }),
            Source::Http { .. } => self.http_get(&format!("/manifests/{}", digest.hex())),
        }
    }

    /// A chunk's stored frame, unchecked.
    pub fn chunk(&self, hash: &Digest) -> Result<Vec<u8>> {
        match self {
            Source::Dir(store) => store
                .read_stored(hash)?
                .ok_or_else(|| err(format!("chunk {hash} is not in {}", store.root().display()))),
            Source::Http { .. } => {
                let hex = hash.hex();
                self.http_get(&format!("/chunks/{}/{hex}", &hex[..2]))
            }
        }
    }

    /// One HTTP/1.0 GET; the body, or an error naming the URL.
    fn http_get(&self, path: &str) -> Result<Vec<u8>> {
        let Source::Http { host, port, prefix } = self else {
            return Err(err("http_get on a directory source"));
        };
        let url = format!("http://{host}:{port}{prefix}{path}");
        let fail = |what: &str| err(format!("storage {url}: {what}"));
        let mut stream =
            TcpStream::connect((host.as_str(), *port)).map_err(|e| fail(&e.to_string()))?;
        stream
            .set_read_timeout(Some(HTTP_TIMEOUT))
            .map_err(|e| fail(&e.to_string()))?;
        let request =
            format!("GET {prefix}{path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .map_err(|e| fail(&e.to_string()))?;
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .map_err(|e| fail(&e.to_string()))?;
        let end = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| fail("response has no header end"))?;
        let head = String::from_utf8_lossy(&response[..end]).to_string();
        let status = head.split_whitespace().nth(1).unwrap_or("");
        if status != "200" {
            let line = head.lines().next().unwrap_or("");
            return Err(fail(&format!("answered {line:?}")));
        }
        let body = response.split_off(end + 4);
        let length = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        });
        if let Some(length) = length {
            if length != body.len() {
                return Err(fail(&format!(
                    "body has {} bytes, Content-Length {length}",
                    body.len()
                )));
            }
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn parses_urls() {
        match Source::parse("http://10.250.7.1:8000/store/").unwrap() {
            Source::Http { host, port, prefix } => {
                assert_eq!(
                    (host.as_str(), port, prefix.as_str()),
                    ("10.250.7.1", 8000, "/store")
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(Source::parse("http://:80/").is_err());
        assert!(Source::parse("http://h:x/").is_err());
    }

    /// A one-shot server that answers `response` to one request.
    fn serve_once(response: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            conn.write_all(response).unwrap();
        });
        port
    }

    #[test]
    fn http_get_checks_status_and_length() {
        let digest = Digest::of(b"m");
        let port = serve_once(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        let source = Source::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        assert_eq!(source.manifest(&digest).unwrap(), b"hello");

        let port = serve_once(b"HTTP/1.0 404 File not found\r\n\r\n");
        let source = Source::parse(&format!("http://127.0.0.1:{port}/s")).unwrap();
        let e = source.manifest(&digest).unwrap_err();
        assert!(
            e.0.contains("answered \"HTTP/1.0 404 File not found\""),
            "{e}"
        );

        let port = serve_once(b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nshort");
        let source = Source::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let e = source.chunk(&digest).unwrap_err();
        assert!(e.0.contains("body has 5 bytes, Content-Length 9"), "{e}");
    }
}
