//! The header of a case file: `case`, `claims`, `tags`, `flavours`, `deadline`, `needs`, `refs`,
//! `why`, `hint`, `ignore`, `differential`.

use crate::ast::*;
use crate::diag::Mistake;
use crate::lexer::Tok;
use crate::span::Span;

use super::args::{Arg, ArgKind};
use super::*;

impl Parser<'_> {
    pub(crate) fn directive(&mut self, cur: &mut Cursor, line_no: usize) -> PResult<()> {
        let head = cur.next().ok_or(Bail)?;
        let Tok::Name(name) = &head.tok else {
            return Err(Bail);
        };
        if name == "flavours" {
            self.flavours_declared = true;
        }
        if name == "case" {
            // A misplaced title is still a title: do not also report it missing.
            self.seen.entry("case".into()).or_insert(line_no);
        }
        if self.body_started {
            return self.fail(Mistake::HeaderAfterBody { name: name.clone() }, head.span);
        }
        if let Some(first_line) = self.seen.get(name.as_str()) {
            if !REPEATABLE.contains(&name.as_str()) && *first_line != line_no {
                let first_line = *first_line;
                return self.fail(
                    Mistake::DuplicateDirective {
                        name: name.clone(),
                        first_line,
                    },
                    head.span,
                );
            }
        }
        self.seen.insert(name.clone(), line_no);
        match name.as_str() {
            "case" => self.meta.title = self.one_string(cur, "a title in quotes")?,
            "why" => self.meta.why = Some(self.one_string(cur, "a reason in quotes")?),
            "hint" => self.meta.hint = Some(self.one_string(cur, "a hint in quotes")?),
            "ignore" => {
                self.meta.ignore =
                    Some(self.one_string(cur, "the reason to ignore the case, in quotes")?)
            }
            "refs" => {
                let first = self.one_string_start(cur, "a reference in quotes")?;
                self.meta.refs.push(first);
                while let Some(Tok::Str(s)) = cur.peek() {
                    self.meta.refs.push(String::from_utf8_lossy(s).into_owned());
                    cur.next();
                }
            }
            "differential" => self.meta.differential = true,
            "deadline" => {
                let arg = self.primary(cur)?;
                self.meta.deadline = Some(self.duration(&arg));
            }
            "tags" => {
                if cur.at_end() {
                    return self.unexpected(cur, "a tag", None);
                }
                while !cur.at_end() {
                    let (text, _) = self.glued(cur);
                    self.meta.tags.push(text);
                }
            }
            "claims" => self.claims(cur)?,
            "flavours" => self.flavours(cur)?,
            "needs" => self.needs(cur)?,
            _ => return Err(Bail),
        }
        self.expect_end(cur, "the end of the directive")
    }

    pub(crate) fn one_string_start(&mut self, cur: &mut Cursor, expected: &str) -> PResult<String> {
        match cur.peek() {
            Some(Tok::Str(s)) => {
                let s = String::from_utf8_lossy(s).into_owned();
                cur.next();
                Ok(s)
            }
            _ => self.unexpected(cur, expected, None),
        }
    }

    pub(crate) fn one_string(&mut self, cur: &mut Cursor, expected: &str) -> PResult<String> {
        let s = self.one_string_start(cur, expected)?;
        self.expect_end(cur, "the end of the directive")?;
        Ok(s)
    }

    /// Tokens written without spaces between them, as one word (`3WAY-01`, `tcp`).
    pub(crate) fn glued(&self, cur: &mut Cursor) -> (String, Span) {
        let Some(first) = cur.next() else {
            return (String::new(), cur.here());
        };
        let mut span = first.span;
        while let Some(t) = cur.toks.get(cur.pos) {
            let word_like = matches!(
                t.tok,
                Tok::Name(_) | Tok::Num { .. } | Tok::Dotted(_) | Tok::Minus
            );
            if t.span.start != span.end || !word_like {
                break;
            }
            span = span.to(t.span);
            cur.pos += 1;
        }
        (self.source[span.start..span.end].to_string(), span)
    }

    pub(crate) fn claims(&mut self, cur: &mut Cursor) -> PResult<()> {
        loop {
            if cur.at_end() {
                return self.unexpected(cur, "a claim id", None);
            }
            let (id, id_span) = self.glued(cur);
            let id_ok = !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
            if !id_ok {
                self.push(Mistake::BadClaimId { id: id.clone() }, id_span);
            }
            let stance = match cur.peek() {
                Some(Tok::Name(word)) => {
                    let span = cur.here();
                    cur.next();
                    match word.as_str() {
                        "holds" => Some(Stance::Holds),
                        "refutes" => Some(Stance::Refutes),
                        "partly" => Some(Stance::Partly),
                        _ => {
                            let suggestion = closest_static(word, STANCES);
                            self.push(
                                Mistake::UnknownStance {
                                    word: word.clone(),
                                    suggestion,
                                },
                                span,
                            );
                            None
                        }
                    }
                }
                _ => {
                    self.push(Mistake::MissingStance { id: id.clone() }, cur.here());
                    if !cur.at_end() && cur.peek() != Some(&Tok::Comma) {
                        return Err(Bail);
                    }
                    None
                }
            };
            if let Some(stance) = stance {
                self.meta.claims.push(ClaimRef {
                    id,
                    stance,
                    span: id_span.to(Span::new(cur.prev_end(), cur.prev_end())),
                });
            }
            if cur.eat(&Tok::Comma).is_none() {
                return Ok(());
            }
        }
    }

    pub(crate) fn flavours(&mut self, cur: &mut Cursor) -> PResult<()> {
        if cur.at_end() {
            return self.unexpected(cur, "a socket kind or an `@group`", None);
        }
        while !cur.at_end() {
            cur.eat(&Tok::Comma);
            let Some(t) = cur.next() else { break };
            let found = match &t.tok {
                Tok::Name(n) => self.flavour_name(n, t.span).map(|f| vec![f]),
                Tok::Group(g) => self.flavour_group(g, t.span),
                _ => {
                    cur.pos -= 1;
                    return self.unexpected(cur, "a socket kind or an `@group`", None);
                }
            };
            for f in found.unwrap_or_default() {
                if !self.meta.flavours.contains(&f) {
                    self.meta.flavours.push(f);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn flavour_name(&mut self, name: &str, span: Span) -> Option<Flavour> {
        let found = Flavour::from_name(name);
        if found.is_none() {
            let names: Vec<&'static str> = Flavour::ALL.iter().map(|f| f.name()).collect();
            let suggestion = closest_static(name, &names);
            self.push(
                Mistake::UnknownFlavour {
                    name: name.to_string(),
                    suggestion,
                },
                span,
            );
        }
        found
    }

    pub(crate) fn flavour_group(&mut self, name: &str, span: Span) -> Option<Vec<Flavour>> {
        let found = Flavour::group(name);
        if found.is_none() {
            let suggestion = closest_static(name, &Flavour::GROUPS);
            self.push(
                Mistake::UnknownFlavour {
                    name: name.to_string(),
                    suggestion,
                },
                span,
            );
        }
        found
    }

    pub(crate) fn needs(&mut self, cur: &mut Cursor) -> PResult<()> {
        if cur.at_end() {
            return self.unexpected(cur, "a prerequisite", None);
        }
        while !cur.at_end() {
            cur.eat(&Tok::Comma);
            let arg = self.primary(cur)?;
            let need = match &arg.kind {
                ArgKind::Name(n) => match n.as_str() {
                    "isolation" => Some(Need::Isolation),
                    "root" => Some(Need::Root),
                    "unprivileged" => Some(Need::Unprivileged),
                    "ipv6" => Some(Need::Ipv6),
                    _ => None,
                },
                ArgKind::Func(f, args) if f == "cap" => match args.as_slice() {
                    [Arg {
                        kind: ArgKind::Name(cap),
                        ..
                    }] => Some(Need::Cap(cap.clone())),
                    _ => {
                        self.push(
                            Mistake::WrongArgument {
                                expected: "a capability name".into(),
                                found: arg.describe(),
                                help: Some("write e.g. `cap(NET_RAW)`".into()),
                            },
                            arg.span,
                        );
                        continue;
                    }
                },
                _ => None,
            };
            match need {
                Some(need) => {
                    if !self.meta.needs.contains(&need) {
                        self.meta.needs.push(need);
                    }
                }
                None => {
                    let name = match &arg.kind {
                        ArgKind::Name(n) | ArgKind::Func(n, _) => n.clone(),
                        _ => self.source[arg.span.start..arg.span.end].to_string(),
                    };
                    let suggestion = closest_static(&name, NEEDS);
                    self.push(Mistake::UnknownNeed { name, suggestion }, arg.span);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::testkit::*;

    #[test]
    fn header_directives() {
        let src = "case \"title\"\nclaims STREAM-03 holds, UDP-1 refutes, X partly\ntags a b-c\n\
                   flavours @tcp tcp4 unix-stream-pair\ndeadline 2s\nneeds isolation root cap(NET_RAW)\n\
                   refs \"man 7 unix\" \"POSIX\"\nrefs \"more\"\nwhy \"w\"\nhint \"h\"\nignore \"slow\"\ndifferential\n";
        let meta = parse("t.sock", src).unwrap().meta;
        assert_eq!(meta.title, "title");
        let claims: Vec<_> = meta
            .claims
            .iter()
            .map(|c| (c.id.as_str(), c.stance))
            .collect();
        assert_eq!(
            claims,
            vec![
                ("STREAM-03", Stance::Holds),
                ("UDP-1", Stance::Refutes),
                ("X", Stance::Partly)
            ]
        );
        assert_eq!(meta.tags, vec!["a", "b-c"]);
        assert_eq!(
            meta.flavours,
            vec![Flavour::Tcp4, Flavour::Tcp6, Flavour::UnixStreamPair]
        );
        assert_eq!(meta.deadline, Some(Duration::from_secs(2)));
        assert_eq!(
            meta.needs,
            vec![Need::Isolation, Need::Root, Need::Cap("NET_RAW".into())]
        );
        assert_eq!(meta.refs, vec!["man 7 unix", "POSIX", "more"]);
        assert_eq!(
            (
                meta.why.as_deref(),
                meta.hint.as_deref(),
                meta.ignore.as_deref()
            ),
            (Some("w"), Some("h"), Some("slow"))
        );
        assert!(meta.differential);
    }

    #[test]
    fn header_mistakes() {
        let codes_of = |src: &str| -> Vec<&'static str> {
            parse("t.sock", src)
                .err()
                .map(|d| d.iter().map(|d| d.code).collect())
                .unwrap_or_default()
        };
        assert_eq!(codes_of("tags a\n"), vec!["missing-title"]);
        assert_eq!(
            codes_of("case \"a\"\ncase \"b\"\n"),
            vec!["duplicate-directive"]
        );
        assert_eq!(
            codes_of("case \"a\"\nclaims stream-1 holds\n"),
            vec!["bad-claim-id"]
        );
        assert_eq!(
            codes_of("case \"a\"\nclaims S-1 hold\n"),
            vec!["unknown-stance"]
        );
        assert_eq!(codes_of("case \"a\"\nclaims S-1\n"), vec!["missing-stance"]);
        assert_eq!(
            codes_of("case \"a\"\nflavours tcp5\n"),
            vec!["unknown-flavour"]
        );
        assert_eq!(codes_of("case \"a\"\nneeds rooot\n"), vec!["unknown-need"]);
        assert_eq!(codes_of("case \"a\"\ntag x\n"), vec!["unknown-directive"]);
        assert_eq!(
            codes_of("case \"a\"\nsleep(0)\ntags x\n"),
            vec!["header-after-body"]
        );
    }
}
