//! The server command a student gives `check --server`: checked once, here, with a fix that
//! is right when it is not (its own port replaced by `{port}`, never a second `--port`).

/// A `--server` command line, as the shell handed it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCommand {
    /// The command, with `{port}` or `{addr}` where the checker puts the port.
    pub text: String,
}

/// Why a command cannot run, and the command that would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub error: String,
    /// The corrected command, for the `hint:` line (empty: there is none to give).
    pub fix: String,
}

impl ServerCommand {
    /// The command from `--server`'s value and any words after it (`stray`: the shell split
    /// an unquoted command).
    pub fn parse(server: &str, stray: &[String]) -> Result<ServerCommand, Refusal> {
        let whole =
            std::iter::once(server).chain(stray.iter().map(String::as_str)).collect::<Vec<_>>().join(" ");
        // A whole command (it has the port) followed by a flag: a flag of check's own that
        // check does not have (mistyped, or from a newer version), not a command the shell split.
        let complete = server.contains("{port}") || server.contains("{addr}");
        if complete && let Some(flag) = stray.first().filter(|word| word.starts_with('-')) {
            return Err(Refusal {
                error: format!(
                    "check has no flag `{flag}` (its flags: `check --help`); if `{flag}` is your \
                     server's, it goes inside the quotes"
                ),
                fix: String::new(),
            });
        }
        if !stray.is_empty() {
            return Err(Refusal {
                error: format!(
                    "`{}` came after --server's command: the shell split it into words",
                    stray.join(" ")
                ),
                fix: fixed(&whole),
            });
        }
        if !server.contains("{port}") && !server.contains("{addr}") {
            return Err(Refusal {
                error:
                    "the --server command has neither {port} nor {addr} in it, so your server cannot know \
                        which port the checker gave it"
                        .to_string(),
                fix: fixed(server),
            });
        }
        Ok(ServerCommand { text: server.to_string() })
    }
}

/// `command` with the checker's port in it: a port of its own (`--port 8888`, `--port=8888`,
/// `-p 8888`) replaced by `{port}`, or `--port {port}` added; and `{args}` at the end, for the
/// flags a scenario passes.
pub fn fixed(command: &str) -> String {
    let mut words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    let mut has_port = command.contains("{port}") || command.contains("{addr}");
    for at in 0..words.len() {
        if let Some(value) = words[at].strip_prefix("--port=")
            && value.parse::<u16>().is_ok()
        {
            words[at] = "--port={port}".to_string();
            has_port = true;
        } else if matches!(words[at].as_str(), "--port" | "-p")
            && words.get(at + 1).is_some_and(|value| value.parse::<u16>().is_ok())
        {
            words[at + 1] = "{port}".to_string();
            has_port = true;
        }
    }
    if !has_port {
        words.extend(["--port".to_string(), "{port}".to_string()]);
    }
    if !command.contains("{args}") {
        words.push("{args}".to_string());
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flag check does not have, after a whole command, is named as that: not as a command the
    /// shell split.
    #[test]
    fn an_unknown_flag_after_a_whole_command_is_named() {
        let refused =
            ServerCommand::parse("python3 s.py --port {port}", &["--bogus".to_string()]).unwrap_err();
        assert!(refused.error.starts_with("check has no flag `--bogus`"), "{}", refused.error);
        let split = ServerCommand::parse("python3", &["s.py".to_string()]).unwrap_err();
        assert!(split.error.contains("the shell split it into words"), "{}", split.error);
    }

    /// A port of the student's own is replaced, never doubled.
    #[test]
    fn a_fixed_port_is_replaced_not_doubled() {
        assert_eq!(fixed("python3 s.py --port 8888"), "python3 s.py --port {port} {args}");
        assert_eq!(fixed("python3 s.py --port=8888"), "python3 s.py --port={port} {args}");
        assert_eq!(fixed("./server -p 9000 --buf 4"), "./server -p {port} --buf 4 {args}");
        assert_eq!(fixed("python3 s.py"), "python3 s.py --port {port} {args}");
        assert_eq!(fixed("python3 s.py --port {port}"), "python3 s.py --port {port} {args}");
    }

    /// Words the shell split off are refused, with the whole command quoted back.
    #[test]
    fn a_split_command_is_refused_with_the_whole_of_it() {
        let refused =
            ServerCommand::parse("python3", &["s.py".into(), "--port".into(), "8888".into()]).unwrap_err();
        assert_eq!(refused.fix, "python3 s.py --port {port} {args}");
        assert!(ServerCommand::parse("python3 s.py --port {port}", &[]).is_ok());
    }
}
