//! Expectations: `= VALUE`, alternatives, modifiers (`data`, `from`, `flags`, …) and timing
//! windows (`took`).

use crate::ast::*;
use crate::diag::Mistake;
use crate::lexer::Tok;
use crate::span::Span;
use crate::symbols::{canonical, Category};

use super::args::{flag_family, is_duration_unit, Arg, ArgKind};
use super::*;

impl Parser<'_> {
    pub(crate) fn expect(&mut self, cur: &mut Cursor, ctx: Ctx) -> PResult<Expect> {
        let start = cur.here();
        if cur.at_end() || matches!(cur.peek_name(), Some("because" | "took")) {
            return self.fail(Mistake::MissingExpectation, start);
        }
        let mut alternatives = Vec::new();
        loop {
            alternatives.push(self.expected(cur, ctx)?);
            if cur.eat(&Tok::Pipe).is_none() {
                break;
            }
        }
        let took = match cur.eat_name("took") {
            Some(took_span) => Some(self.window(cur, took_span)?),
            None => None,
        };
        Ok(Expect {
            alternatives,
            took,
            span: start.to(Span::new(cur.prev_end(), cur.prev_end())),
        })
    }

    pub(crate) fn expected(&mut self, cur: &mut Cursor, ctx: Ctx) -> PResult<Expected> {
        let start = cur.here();
        let value = self.value(cur, ctx)?;
        let mut mods = Vec::new();
        while let Some(word) = cur.peek_name() {
            if !MODIFIERS.contains(&word)
                || (word == "creds" && cur.peek_at(1) != Some(&Tok::LParen))
            {
                break;
            }
            mods.push(self.modifier(cur)?);
        }
        Ok(Expected {
            value,
            mods,
            span: start.to(Span::new(cur.prev_end(), cur.prev_end())),
        })
    }

    pub(crate) fn value(&mut self, cur: &mut Cursor, ctx: Ctx) -> PResult<Value> {
        let Some(tok) = cur.peek() else {
            return self.fail(Mistake::MissingExpectation, cur.here());
        };
        match tok {
            Tok::Minus | Tok::Num { .. } => self.number_value(cur),
            Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge | Tok::EqEq | Tok::Ne => {
                let op = self.cmp_op(cur)?;
                let arg = self.primary(cur)?;
                Ok(Value::Int(IntMatch::Cmp(op, self.int(&arg))))
            }
            Tok::Name(n) if cur.peek_at(1) != Some(&Tok::LParen) => {
                let (n, span) = (n.clone(), cur.here());
                cur.next();
                self.name_value(cur, &n, span, ctx)
            }
            Tok::Ellipsis => self.unexpected(cur, "a value", None),
            _ => {
                let arg = self.primary(cur)?;
                Ok(self.arg_value(&arg))
            }
        }
    }

    pub(crate) fn arg_value(&mut self, arg: &Arg) -> Value {
        match &arg.kind {
            ArgKind::Str(_) | ArgKind::Hex(_) => Value::Bytes(self.payload(arg)),
            ArgKind::Func(f, _) if f == "pattern" || f == "fill" => Value::Bytes(self.payload(arg)),
            ArgKind::Func(f, args) if f == "seconds_since_1900" => {
                match self.func_args(
                    arg,
                    args,
                    1,
                    "seconds_since_1900",
                    "seconds_since_1900(TOLERANCE)",
                ) {
                    Some([t]) => Value::Content(ContentCheck::SecondsSince1900 {
                        tolerance: self.duration(t),
                    }),
                    _ => Value::Ok,
                }
            }
            ArgKind::Func(f, args) if f == "printable" => {
                match self.func_args(arg, args, 1, "printable", "printable(MAX)") {
                    Some([m]) => Value::Content(ContentCheck::Printable { max: self.size(m) }),
                    _ => Value::Ok,
                }
            }
            ArgKind::Func(f, args) if f == "linger" => {
                match self.func_args(arg, args, 2, "linger", "linger(ONOFF, SECS)") {
                    Some([a, b]) => Value::Linger(self.int(a), self.int(b)),
                    _ => Value::Ok,
                }
            }
            ArgKind::Func(f, args) if f == "sock" => {
                if args.is_empty() || args.len() > 2 {
                    self.push(
                        Mistake::WrongArity {
                            call: "sock",
                            given: args.len(),
                            signature: "sock(FILE_TYPE[, MODE])",
                        },
                        arg.span,
                    );
                    return Value::Ok;
                }
                let kind = self.sym(&args[0], Category::FileType);
                let mode = args.get(1).map(|m| self.int(m).clamp(0, 0o7777) as u32);
                Value::Stat { kind, mode }
            }
            ArgKind::List(items) => {
                let mut entries = Vec::new();
                let mut others_any = false;
                for item in items {
                    match &item.kind {
                        ArgKind::Entry(h, events) => {
                            self.check_handle(&h.name, h.span);
                            entries.push((h.clone(), self.flags_match(events, Category::PollFlag)));
                        }
                        ArgKind::Ellipsis => others_any = true,
                        _ => self.wrong(item, "`h: EVENTS` or `...`", None, ()),
                    }
                }
                Value::Ready {
                    entries,
                    others_any,
                }
            }
            ArgKind::Tuple(sets) => match sets.as_slice() {
                [r, w, e] => Value::Sets {
                    read: self.handles(r),
                    write: self.handles(w),
                    except: self.handles(e),
                },
                _ => self.wrong(
                    arg,
                    "three lists `([r...], [w...], [e...])`",
                    None,
                    Value::Ok,
                ),
            },
            ArgKind::Func(f, _) if f == "creds" => match self.creds(arg) {
                Modifier::Creds { pid, uid, gid } => Value::Creds { pid, uid, gid },
                _ => Value::Ok,
            },
            ArgKind::V4(..) | ArgKind::V6(..) | ArgKind::Star | ArgKind::Func(..) => {
                Value::Addr(self.addr_match(arg))
            }
            _ => self.wrong(arg, "a value", None, Value::Ok),
        }
    }

    /// `10`, `1..100`, `4KiB`, `200ms`, `-1 EAGAIN`, `-5`.
    pub(crate) fn number_value(&mut self, cur: &mut Cursor) -> PResult<Value> {
        let arg = self.primary(cur)?;
        let ArgKind::Num { neg, value, unit } = &arg.kind else {
            return Ok(self.wrong(&arg, "a number", None, Value::Ok));
        };
        if is_duration_unit(unit) {
            return Ok(Value::Duration(self.duration(&arg)));
        }
        if *neg && *value == 1 && unit.is_empty() && cur.peek() != Some(&Tok::DotDot) {
            return Ok(match cur.peek_name() {
                Some(name) if !MODIFIERS.contains(&name) && name != "took" && name != "because" => {
                    let span = cur.here();
                    cur.next();
                    Value::Errno(self.symbol(name, span, Category::Errno))
                }
                _ => {
                    self.push(Mistake::MissingErrno, Span::new(arg.span.end, arg.span.end));
                    Value::Int(IntMatch::Exact(-1))
                }
            });
        }
        let low = self.int(&arg);
        if cur.eat(&Tok::DotDot).is_none() {
            return Ok(Value::Int(IntMatch::Exact(low)));
        }
        let high_arg = self.primary(cur)?;
        let high = self.int(&high_arg);
        if high < low {
            let span = arg.span.to(high_arg.span);
            return Ok(self.wrong(
                &Arg {
                    kind: arg.kind.clone(),
                    span,
                },
                "a range `LOW..HIGH` with LOW <= HIGH",
                None,
                Value::Int(IntMatch::Range(low, low)),
            ));
        }
        Ok(Value::Int(IntMatch::Range(low, high)))
    }

    /// A bare name in an expectation: a keyword, a handle's address or a flags value.
    pub(crate) fn name_value(
        &mut self,
        cur: &mut Cursor,
        name: &str,
        span: Span,
        ctx: Ctx,
    ) -> PResult<Value> {
        match name {
            "EOF" => return Ok(Value::Eof),
            "ok" => return Ok(Value::Ok),
            "unnamed" => return Ok(Value::Addr(AddrMatch::Unnamed)),
            "autobound" => return Ok(Value::Addr(AddrMatch::Autobound)),
            "none" => return Ok(Value::Addr(AddrMatch::None)),
            "server" if !self.is_handle(name) => return Ok(Value::Addr(AddrMatch::Server(None))),
            "daytime_line" => return Ok(Value::Content(ContentCheck::DaytimeLine)),
            "chargen_lines" => {
                return Ok(Value::Content(ContentCheck::Chargen { rotating: false }))
            }
            "chargen_pattern" => {
                return Ok(Value::Content(ContentCheck::Chargen { rotating: true }))
            }
            _ => {}
        }
        let is_handle = self.handles.contains(name) || self.poisoned.contains(name);
        if ctx == Ctx::Addr || (is_handle && !matches!(ctx, Ctx::Flags(_))) {
            self.check_handle(name, span);
            return Ok(Value::Addr(AddrMatch::Handle(Ident {
                name: name.to_string(),
                span,
            })));
        }
        let categories: &[Category] = match &ctx {
            Ctx::Flags(c) => std::slice::from_ref(c),
            _ => VALUE_CATEGORIES,
        };
        let found = categories
            .iter()
            .copied()
            .find(|c| c.contains(&canonical(*c, name)));
        let category = match (found, ctx) {
            (Some(c), _) => c,
            (None, _) if Category::Errno.contains(name) => {
                self.push(
                    Mistake::ErrnoWithoutMinus {
                        name: name.to_string(),
                    },
                    span,
                );
                return Ok(Value::Errno(Sym {
                    name: name.to_string(),
                    span,
                }));
            }
            (None, Ctx::Flags(c)) => c,
            (None, _) => {
                let suggestion = self.reporting().then(|| {
                    let mut candidates: Vec<&str> =
                        self.handles.iter().map(String::as_str).collect();
                    candidates.extend(["EOF", "ok", "unnamed", "autobound", "none", "server"]);
                    candidates.extend(CONTENT_WORDS);
                    for c in VALUE_CATEGORIES {
                        candidates.extend(c.names());
                    }
                    closest(name, candidates)
                });
                let suggestion = suggestion.flatten();
                self.push(
                    Mistake::UnknownValue {
                        name: name.to_string(),
                        suggestion,
                    },
                    span,
                );
                return Ok(Value::Ok);
            }
        };
        let mut flags = FlagsMatch {
            names: vec![self.symbol(name, span, category)],
            others_any: false,
        };
        if let Some(family) = flag_family(name) {
            self.more_flags(cur, family, category, &mut flags);
        }
        Ok(Value::Flags(flags))
    }

    /// `|` continues a flags value when a flag of the same family (or `...`) follows;
    /// otherwise it separates alternatives.
    pub(crate) fn more_flags(
        &mut self,
        cur: &mut Cursor,
        family: &str,
        category: Category,
        flags: &mut FlagsMatch,
    ) {
        while cur.peek() == Some(&Tok::Pipe) {
            match cur.peek_at(1) {
                Some(Tok::Ellipsis) => {
                    cur.pos += 2;
                    flags.others_any = true;
                }
                Some(Tok::Name(n)) if flag_family(n) == Some(family) => {
                    let span = cur.toks[cur.pos + 1].span;
                    cur.pos += 2;
                    let sym = self.symbol(n, span, category);
                    flags.names.push(sym);
                }
                _ => return,
            }
        }
    }

    pub(crate) fn modifier(&mut self, cur: &mut Cursor) -> PResult<Modifier> {
        let Some(word) = cur.peek_name() else {
            return Err(Bail);
        };
        if word == "creds" {
            let arg = self.primary(cur)?;
            return Ok(self.creds(&arg));
        }
        cur.next();
        Ok(match word {
            "data" => {
                let arg = self.primary(cur)?;
                Modifier::Data(self.payload(&arg))
            }
            "flags" => {
                let mut flags = FlagsMatch {
                    names: Vec::new(),
                    others_any: false,
                };
                let span = cur.here();
                match cur.next().map(|t| &t.tok) {
                    Some(Tok::Num { value: 0, unit }) if unit.is_empty() => {}
                    Some(Tok::Ellipsis) => flags.others_any = true,
                    Some(Tok::Name(n)) => flags.names.push(self.symbol(n, span, Category::MsgFlag)),
                    _ => {
                        cur.pos -= 1;
                        return self.unexpected(
                            cur,
                            "message flags like `MSG_TRUNC`, or `0`",
                            None,
                        );
                    }
                }
                self.more_flags(cur, "MSG_", Category::MsgFlag, &mut flags);
                Modifier::MsgFlags(flags)
            }
            "from" => {
                let arg = self.primary(cur)?;
                Modifier::From(self.addr_match(&arg))
            }
            "rights" => {
                let arg = self.primary(cur)?;
                match &arg.kind {
                    ArgKind::List(items) => Modifier::Rights(
                        items
                            .iter()
                            .filter_map(|i| match &i.kind {
                                ArgKind::Name(n) => Some(Ident {
                                    name: n.clone(),
                                    span: i.span,
                                }),
                                _ => self.wrong(i, "a name to bind", None, None),
                            })
                            .collect(),
                    ),
                    _ => self.wrong(
                        &arg,
                        "a list of names `[x, y]`",
                        None,
                        Modifier::Rights(Vec::new()),
                    ),
                }
            }
            "signal" | "no" => {
                let span = cur.here();
                let Some(sig) = cur.peek_name() else {
                    return self.unexpected(cur, "a signal name like `SIGPIPE`", None);
                };
                cur.next();
                Modifier::Signal {
                    sig: self.symbol(sig, span, Category::Signal),
                    delivered: word == "signal",
                }
            }
            "remaining" => Modifier::Remaining(self.millis_match(cur)?),
            "addrlen" => Modifier::AddrLen(self.int_match(cur)?),
            "h_name" | "h_aliases" | "h_addrtype" | "h_length" | "h_addr_list" | "h_errno" => {
                Modifier::Hostent(self.hostent_check(cur, word)?)
            }
            _ => return Err(Bail),
        })
    }

    /// The value after `h_name`, `h_aliases`, … (the word itself was read).
    pub(crate) fn hostent_check(&mut self, cur: &mut Cursor, word: &str) -> PResult<HostentCheck> {
        if matches!(word, "h_addrtype" | "h_errno") {
            let span = cur.here();
            let Some(name) = cur.peek_name() else {
                let expected = if word == "h_errno" {
                    "an h_errno name like `HOST_NOT_FOUND`"
                } else {
                    "an address family like `AF_INET`"
                };
                return self.unexpected(cur, expected, None);
            };
            cur.next();
            return Ok(if word == "h_errno" {
                HostentCheck::Errno(self.symbol(name, span, Category::HErrno))
            } else {
                HostentCheck::Addrtype(self.symbol(name, span, Category::Domain))
            });
        }
        let arg = self.primary(cur)?;
        Ok(match word {
            "h_name" => HostentCheck::Name(self.string_arg(&arg, "a host name in quotes")),
            "h_length" => HostentCheck::Length(self.int(&arg)),
            "h_aliases" => match &arg.kind {
                ArgKind::List(items) => HostentCheck::Aliases(
                    items
                        .iter()
                        .map(|i| self.string_arg(i, "a name in quotes"))
                        .collect(),
                ),
                _ => self.wrong(
                    &arg,
                    "a list of names `[\"a\", \"b\"]`",
                    Some("write `h_aliases []` for a host without aliases".into()),
                    HostentCheck::Aliases(Vec::new()),
                ),
            },
            _ => match &arg.kind {
                ArgKind::List(items) => {
                    HostentCheck::AddrList(items.iter().map(|i| self.host_addr(i)).collect())
                }
                _ => self.wrong(
                    &arg,
                    "a list of addresses `[192.0.2.7, [::1]]`",
                    None,
                    HostentCheck::AddrList(Vec::new()),
                ),
            },
        })
    }

    pub(crate) fn creds(&mut self, arg: &Arg) -> Modifier {
        let (mut pid, mut uid, mut gid) = (CredMatch::Any, CredMatch::Any, CredMatch::Any);
        if let ArgKind::Func(_, fields) = &arg.kind {
            for field in fields {
                let ArgKind::Keyed(key, value) = &field.kind else {
                    self.wrong(field, "`pid=`, `uid=` or `gid=`", None, ());
                    continue;
                };
                let m = match &value.kind {
                    ArgKind::Star => CredMatch::Any,
                    ArgKind::Name(n) if n == "self" => CredMatch::SelfId,
                    ArgKind::Num { .. } => CredMatch::Value(self.int(value)),
                    _ => self.wrong(value, "a number, `self` or `*`", None, CredMatch::Any),
                };
                match key.as_str() {
                    "pid" => pid = m,
                    "uid" => uid = m,
                    "gid" => gid = m,
                    _ => self.wrong(field, "`pid=`, `uid=` or `gid=`", None, ()),
                }
            }
        }
        Modifier::Creds { pid, uid, gid }
    }

    /// `0..100`, `>=50`, `50ms..100ms`: a number of milliseconds (units are converted).
    pub(crate) fn millis_match(&mut self, cur: &mut Cursor) -> PResult<IntMatch> {
        self.matcher(cur, Self::millis)
    }

    /// `16`, `>2`, `2..110`: an integer matcher after a modifier word.
    pub(crate) fn int_match(&mut self, cur: &mut Cursor) -> PResult<IntMatch> {
        self.matcher(cur, Self::int)
    }

    /// `N`, `OP N` or `N..M`, each number read by `value`.
    pub(crate) fn matcher(
        &mut self,
        cur: &mut Cursor,
        value: fn(&mut Self, &Arg) -> i64,
    ) -> PResult<IntMatch> {
        let cmp = match cur.peek() {
            Some(Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge | Tok::EqEq | Tok::Ne) => {
                Some(self.cmp_op(cur)?)
            }
            _ => None,
        };
        let low_arg = self.primary(cur)?;
        let low = value(self, &low_arg);
        if let Some(op) = cmp {
            return Ok(IntMatch::Cmp(op, low));
        }
        if cur.eat(&Tok::DotDot).is_none() {
            return Ok(IntMatch::Exact(low));
        }
        let high_arg = self.primary(cur)?;
        Ok(IntMatch::Range(low, value(self, &high_arg)))
    }

    pub(crate) fn millis(&mut self, arg: &Arg) -> i64 {
        match &arg.kind {
            ArgKind::Num { unit, .. } if is_duration_unit(unit) => {
                i64::try_from(self.duration(arg).as_millis()).unwrap_or(i64::MAX)
            }
            _ => self.int(arg),
        }
    }

    pub(crate) fn window(&mut self, cur: &mut Cursor, took_span: Span) -> PResult<Window> {
        let help = "write `took 150ms..+40ms`, `took >=100ms` or `took <20ms`".to_string();
        let (min, max) = match cur.peek() {
            Some(Tok::Gt | Tok::Ge) => {
                cur.next();
                let arg = self.primary(cur)?;
                (Some(self.duration(&arg)), None)
            }
            Some(Tok::Lt | Tok::Le) => {
                cur.next();
                let arg = self.primary(cur)?;
                (None, Some(WindowMax::Below(self.duration(&arg))))
            }
            Some(Tok::Num { .. }) => {
                let arg = self.primary(cur)?;
                let min = self.duration(&arg);
                if cur.eat(&Tok::DotDot).is_none() {
                    let label = "expected `..+TOLERANCE` after the minimum";
                    return self.fail(Mistake::BadWindow { label, help }, cur.here());
                }
                if cur.eat(&Tok::Plus).is_none() {
                    let label = "expected `+` and a tolerance";
                    let at = cur.here();
                    let upper = match cur.peek() {
                        Some(Tok::Num { .. }) => self.primary(cur).ok(),
                        _ => None,
                    };
                    let help = match upper.map(|u| self.duration(&u)) {
                        Some(max) if max >= min => format!(
                            "the upper bound is a tolerance above the minimum, scaled by --time-scale: \
                             `took {}..+{}`",
                            show_duration(min),
                            show_duration(max - min)
                        ),
                        _ => "the upper bound is a tolerance above the minimum: `took 150ms..+40ms`".into(),
                    };
                    return self.fail(Mistake::BadWindow { label, help }, at);
                }
                let tol = self.primary(cur)?;
                (Some(min), Some(WindowMax::Tolerance(self.duration(&tol))))
            }
            _ => {
                let label = "expected a duration, `>=DURATION` or `<DURATION`";
                return self.fail(Mistake::BadWindow { label, help }, cur.here());
            }
        };
        Ok(Window {
            min,
            max,
            span: took_span.to(Span::new(cur.prev_end(), cur.prev_end())),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::testkit::*;

    #[test]
    fn expectation_values() {
        assert_eq!(value("send(c, \"x\") = 1"), Value::Int(IntMatch::Exact(1)));
        assert_eq!(
            value("recv(s, 9) = 1..100"),
            Value::Int(IntMatch::Range(1, 100))
        );
        assert_eq!(
            value("recv(s, 9) = >=4096"),
            Value::Int(IntMatch::Cmp(CmpOp::Ge, 4096))
        );
        assert!(
            matches!(value("recv(s, 9) = -1 EWOULDBLOCK"), Value::Errno(ref e) if e.name == "EWOULDBLOCK")
        );
        assert_eq!(
            value("recv(s, 9) = \"hi\""),
            Value::Bytes(Payload::Bytes(b"hi".to_vec()))
        );
        assert_eq!(value("recv(s, 9) = EOF"), Value::Eof);
        assert_eq!(value("recv(s, 9) = ok"), Value::Ok);
        assert!(matches!(
            value("getsockname(l) = 127.0.0.1:ephemeral"),
            Value::Addr(AddrMatch::V4 {
                port: PortMatch::Ephemeral,
                ..
            })
        ));
        assert!(matches!(
            value("getsockname(l) = [::1]:*"),
            Value::Addr(AddrMatch::V6 {
                port: PortMatch::Any,
                ..
            })
        ));
        assert!(matches!(
            value("getpeername(c) = s"),
            Value::Addr(AddrMatch::Handle(_))
        ));
        assert_eq!(
            value("getsockname(c) = unnamed"),
            Value::Addr(AddrMatch::Unnamed)
        );
        assert_eq!(value("getsockname(c) = *"), Value::Addr(AddrMatch::Any));
        assert!(
            matches!(value("fcntl(c, F_GETFL) = O_NONBLOCK|..."), Value::Flags(FlagsMatch { ref names, others_any: true }) if names.len() == 1)
        );
        assert!(
            matches!(value("getsockopt(c, SOL_SOCKET, SO_TYPE) = SOCK_STREAM"), Value::Flags(ref f) if f.names[0].name == "STREAM")
        );
        assert_eq!(
            value("getsockopt(c, SOL_SOCKET, SO_LINGER) = linger(1, 0)"),
            Value::Linger(1, 0)
        );
        assert_eq!(
            value("getsockopt(c, SOL_SOCKET, SO_RCVTIMEO) = 200ms"),
            Value::Duration(Duration::from_millis(200))
        );
        assert!(matches!(
            value("stat(path(\"x\")) = sock(S_IFSOCK, 0o755)"),
            Value::Stat {
                mode: Some(0o755),
                ..
            }
        ));
        assert!(matches!(
            value("stat(path(\"x\")) = sock(S_IFSOCK)"),
            Value::Stat { mode: None, .. }
        ));
        let Value::Ready {
            entries,
            others_any,
        } = value("poll([s: POLLIN], 0) = [s: POLLIN|POLLOUT, ...]")
        else {
            panic!()
        };
        assert_eq!((entries.len(), others_any), (1, true));
        assert!(
            matches!(value("poll([s: POLLIN], 0) = []"), Value::Ready { ref entries, others_any: false } if entries.is_empty())
        );
        let Value::Sets {
            read,
            write,
            except,
        } = value("select([s], [c], [], 0) = ([s], [], [])")
        else {
            panic!()
        };
        assert_eq!((read.len(), write.len(), except.len()), (1, 0, 0));
    }

    #[test]
    fn alternatives_modifiers_and_windows() {
        let e = expect("recv(s, 9) = EOF | -1 ECONNRESET took 150ms..+40ms");
        assert_eq!(e.alternatives.len(), 2);
        let w = e.took.unwrap();
        assert_eq!(
            (w.min, w.max),
            (
                Some(Duration::from_millis(150)),
                Some(WindowMax::Tolerance(Duration::from_millis(40)))
            )
        );
        assert_eq!(
            expect("recv(s, 9) = 1 took <20ms").took.unwrap().max,
            Some(WindowMax::Below(Duration::from_millis(20)))
        );
        assert_eq!(
            expect("recv(s, 9) = 1 took >=100ms").took.unwrap().min,
            Some(Duration::from_millis(100))
        );
        let e = expect(
            "recvmsg(s, 9) = 4 data \"abcd\" flags MSG_TRUNC|MSG_EOR from 127.0.0.1:port(l) rights [x] creds(pid=self, uid=0)",
        );
        let mods = &e.alternatives[0].mods;
        assert_eq!(mods.len(), 5);
        assert!(matches!(&mods[1], Modifier::MsgFlags(f) if f.names.len() == 2));
        assert!(matches!(
            &mods[4],
            Modifier::Creds {
                pid: CredMatch::SelfId,
                uid: CredMatch::Value(0),
                gid: CredMatch::Any
            }
        ));
        let e = expect("send(c, \"x\") = -1 EPIPE signal SIGPIPE | 1 no SIGPIPE");
        assert!(matches!(
            &e.alternatives[1].mods[0],
            Modifier::Signal {
                delivered: false,
                ..
            }
        ));
        let e = expect("select([], [], [], 100ms) = 0 remaining 0..100");
        assert!(matches!(
            &e.alternatives[0].mods[0],
            Modifier::Remaining(IntMatch::Range(0, 100))
        ));
        // `rights` binds new handles.
        parse_ok("recvmsg(s, 9) = 1 rights [fd1]\nclose(fd1)\n");
        // Flags of another family after `|` start a new alternative.
        let e = expect("fcntl(c, F_GETFL) = O_RDWR | -1 EBADF");
        assert_eq!(e.alternatives.len(), 2);
    }

    #[test]
    fn expectation_mistakes() {
        assert_eq!(codes("recv(s, 9) =\n"), vec!["missing-expectation"]);
        assert_eq!(codes("recv(s, 9) = -1\n"), vec!["missing-errno"]);
        assert_eq!(codes("recv(s, 9) = EAGAIN\n"), vec!["errno-without-minus"]);
        assert!(codes("getsockopt(s, SOL_SOCKET, SO_ERROR) = ECONNREFUSED\n").is_empty());
        assert_eq!(
            codes("getsockopt(s, SOL_SOCKET, SO_ERROR) = ECONNREFUSD\n"),
            vec!["unknown-symbol"]
        );
        assert_eq!(codes("recv(s, 9) = -1 EAGIAN\n"), vec!["unknown-symbol"]);
        assert_eq!(codes("recv(s, 9) = bogus\n"), vec!["unknown-value"]);
        assert_eq!(codes("recv(s, 9) = 1 took 150ms\n"), vec!["bad-window"]);
        assert_eq!(codes("recv(s, 9) = 1 2\n"), vec!["syntax"]);
    }

    #[test]
    fn peer_credentials_and_directory_entries() {
        assert_eq!(
            value("getsockopt(s, SOL_SOCKET, SO_PEERCRED) = creds(pid=self, uid=0, gid=*)"),
            Value::Creds {
                pid: CredMatch::SelfId,
                uid: CredMatch::Value(0),
                gid: CredMatch::Any
            }
        );
        assert_eq!(op("dir_entries()"), Op::DirEntries);
    }
}
