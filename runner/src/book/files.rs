//! The built book served as plain files on 127.0.0.1, for the runner installed from the wheel:
//! it holds the book mdBook built (`cargo lab dist`), so nothing needs mdBook to read it.

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use tiny_http::{Header, Method, Request, Response, ResponseBox, Server};

/// Answer every request with the file it names under `root`, until the process is stopped.
pub fn serve(server: &Server, root: &Path) {
    for request in server.incoming_requests() {
        let response = respond(root, &request);
        // A browser that closed the connection first has nothing left to be told.
        let _ = request.respond(response);
    }
}

fn respond(root: &Path, request: &Request) -> ResponseBox {
    if !matches!(request.method(), Method::Get | Method::Head) {
        return Response::from_string("only GET and HEAD\n").with_status_code(405).boxed();
    }
    let found = resolve(root, request.url()).and_then(|path| Some((File::open(&path).ok()?, path)));
    match found {
        Some((file, path)) => Response::from_file(file).with_header(content_type(&path)).boxed(),
        None => match File::open(root.join("404.html")) {
            Ok(page) => Response::from_file(page)
                .with_status_code(404)
                .with_header(content_type(Path::new("404.html")))
                .boxed(),
            Err(_) => Response::from_string("not found\n").with_status_code(404).boxed(),
        },
    }
}

/// The file a URL names under `root`: the query and fragment dropped, `%XX` decoded, a folder
/// meaning its `index.html`. None for a file that is not there, and for any path that would
/// leave `root` (`..`).
pub fn resolve(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let path = percent_decode(path)?;
    let mut file = root.to_path_buf();
    for component in Path::new(path.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => file.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    if file.is_dir() {
        file.push("index.html");
    }
    file.is_file().then_some(file)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            decoded.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(decoded).ok().filter(|path| !path.contains('\0'))
}

fn content_type(path: &Path) -> Header {
    let kind = match path.extension().and_then(|e| e.to_str()).unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    Header::from_bytes("Content-Type", kind).expect("a fixed header name and value are valid")
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use super::*;

    fn book() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("css")).unwrap();
        std::fs::write(root.path().join("index.html"), "<h1>socket-labs</h1>").unwrap();
        std::fs::write(root.path().join("css/book.css"), "body {}").unwrap();
        std::fs::write(root.path().join("404.html"), "<h1>no such page</h1>").unwrap();
        root
    }

    #[test]
    fn a_url_names_a_file_under_the_root_and_never_above_it() {
        let book = book();
        let root = book.path();
        assert_eq!(resolve(root, "/"), Some(root.join("index.html")));
        assert_eq!(resolve(root, "/css/book.css?v=1#top"), Some(root.join("css/book.css")));
        assert_eq!(resolve(root, "/%63ss/book.css"), Some(root.join("css/book.css")));
        assert_eq!(resolve(root, "/missing.html"), None);
        assert_eq!(resolve(root, "/../index.html"), None);
        assert_eq!(resolve(root, "/css/%2e%2e/%2e%2e/etc/passwd"), None);
        assert_eq!(resolve(root, "/bad%zz"), None);
    }

    /// One request over the loopback, as a browser would send it; the whole answer.
    fn get(server: &Server, path: &str) -> String {
        let address = server.server_addr().to_ip().unwrap();
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn serves_the_pages_with_their_type_and_the_books_404_page() {
        let book = book();
        let server = std::sync::Arc::new(Server::http("127.0.0.1:0").unwrap());
        let serving = {
            let (server, root) = (server.clone(), book.path().to_path_buf());
            std::thread::spawn(move || serve(&server, &root))
        };
        let page = get(&server, "/");
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("Content-Type: text/html; charset=utf-8"), "{page}");
        assert!(page.ends_with("<h1>socket-labs</h1>"), "{page}");
        let missing = get(&server, "/nowhere.html");
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        assert!(missing.ends_with("<h1>no such page</h1>"), "{missing}");
        server.unblock();
        serving.join().unwrap();
    }
}
