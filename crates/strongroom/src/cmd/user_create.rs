//! `strongroom user create`: an account made by the operator, its address verified; with
//! `--totp`, its first second factor enrolled at this terminal (the secret and a QR code
//! printed, a code from the authenticator read back and checked), so that an index with
//! two-factor authentication required (the default) takes its first upload without a browser.
//!
//! Standard input carries the password on its first line. When standard input is a terminal,
//! the password is asked for there instead, with echo off and twice (`Password for NAME: `), so
//! that it never shows on the screen. With `--totp` the code comes from the next line of standard
//! input (scripts: write it once the `secret: ` line was printed), or, when standard input ends
//! after the password (`echo … | strongroom user create …`), from the terminal, as `ssh` asks for
//! a passphrase.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};

use anyhow::Context;
use strongroom_core::operator_enrolment::CODE_MISMATCH;
use strongroom_core::second_factor::{Enrolled, totp_offer};
use strongroom_core::{CoreError, Services};

use super::{DataFolder, cli_actor, cli_meta, open};
use crate::config::Config;

/// How many codes a person at a terminal may type before the command gives up.
const TRIES: usize = 3;

#[derive(clap::Args, Debug)]
pub(crate) struct CreateArgs {
    name: String,
    #[arg(long)]
    email: String,
    /// Make the account an administrator.
    #[arg(long)]
    admin: bool,
    /// Read the password from standard input (its first line with --totp); at a terminal it is
    /// asked for with echo off, twice.
    #[arg(long, required = true)]
    password_stdin: bool,
    /// Turn on two-factor authentication now: print a TOTP secret and its QR code for an
    /// authenticator app, then read its current code (the next line of standard input, else
    /// the terminal) and print the recovery codes once.
    #[arg(long)]
    totp: bool,
}

/// Where the confirming code is read from: the line after the password, else (standard input
/// having ended there) the controlling terminal, opened only then.
struct CodeInput<'a> {
    stdin: &'a mut dyn BufRead,
    /// Standard input is a terminal (a person types the password, then the code).
    stdin_is_terminal: bool,
    stdin_ended: bool,
    tty: Option<BufReader<std::fs::File>>,
}

impl CodeInput<'_> {
    /// The next code and whether a person typed it at a terminal; `None` at the end of input.
    fn next_code(&mut self, username: &str) -> anyhow::Result<Option<(String, bool)>> {
        let prompt = format!("Code from the authenticator app for {username}: ");
        let mut line = String::new();
        if !self.stdin_ended {
            if self.stdin_is_terminal {
                eprint!("{prompt}");
            }
            if self
                .stdin
                .read_line(&mut line)
                .context("reading the code")?
                > 0
            {
                return Ok(Some((line.trim().to_owned(), self.stdin_is_terminal)));
            }
            self.stdin_ended = true;
            if self.stdin_is_terminal {
                return Ok(None);
            }
        }
        let tty = match &mut self.tty {
            Some(tty) => tty,
            None => self.tty.insert(BufReader::new(
                std::fs::File::options()
                    .read(true)
                    .write(true)
                    .open("/dev/tty")
                    .context("standard input ended after the password and there is no terminal to ask for the code at (scripts write the code on the line after the password, once the `secret:` line is printed); the account was not made")?,
            )),
        };
        let mut out = tty.get_ref();
        out.write_all(prompt.as_bytes())
            .and_then(|()| out.flush())
            .context("writing to the terminal")?;
        if tty.read_line(&mut line).context("reading the code")? == 0 {
            return Ok(None);
        }
        Ok(Some((line.trim().to_owned(), true)))
    }
}

pub(crate) async fn run(config: &Config, args: CreateArgs) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    let password = if interactive {
        // A person at the terminal: asked for it with echo off (never on the screen, in the
        // scrollback or in a recording of the session), twice, as `passwd` does.
        read_password_at_terminal(&args.name)?
    } else if args.totp {
        // One line: the code may follow on the next.
        let mut line = String::new();
        input
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line
    } else {
        let mut all = String::new();
        input
            .read_to_string(&mut all)
            .context("reading the password from stdin")?;
        all
    };
    let password = password
        .strip_suffix('\n')
        .map(|p| p.strip_suffix('\r').unwrap_or(p))
        .unwrap_or(&password)
        .to_owned();
    let services = open(config, DataFolder::Existing).await?;
    if !args.totp {
        let user = services
            .create_user(&args.name, &args.email, &password, args.admin, &cli_meta())
            .await?;
        println!(
            "created user {} (id {}){}",
            user.username,
            user.id,
            role(args.admin)
        );
        if config.accounts.require_2fa {
            eprintln!(
                "note: two-factor authentication is required (require_2fa): {} uploads once it is set up: sign in on the web, or make the account with --totp to set it up at the terminal",
                user.username
            );
        }
        return Ok(());
    }
    // Everything that can be checked before the secret is shown, so that nobody adds an entry
    // to their app for an account that is then refused.
    strongroom_core::accounts::validate_username(&args.name)?;
    strongroom_core::accounts::validate_email(&args.email)?;
    strongroom_core::accounts::validate_password(&password)?;
    if services.db.user_by_name(&args.name).await?.is_some() {
        anyhow::bail!(
            "This username is already being used by another account. Choose a different username."
        );
    }
    let mut code_input = CodeInput {
        stdin: &mut input,
        stdin_is_terminal: interactive,
        stdin_ended: false,
        tty: None,
    };
    let offer = totp_offer(&args.name)?;
    print!(
        "Two-factor authentication for {}: scan this QR code with an authenticator app, or type the secret into it.\n\n{}\nsecret: {}\nuri: {}\n",
        args.name,
        terminal_qr(&offer.otpauth_uri)?,
        offer.secret_base32,
        offer.otpauth_uri
    );
    std::io::stdout().flush().context("writing to stdout")?;
    for tried in 1.. {
        let Some((code, typed)) = code_input.next_code(&args.name)? else {
            break;
        };
        match create(&services, &args, &password, &offer.secret_base32, &code).await {
            Ok(enrolled) => {
                print_recovery_codes(&enrolled);
                return Ok(());
            }
            // A person may look again at the app; a script gets one answer.
            Err(CoreError::Invalid(m)) if m == CODE_MISMATCH && typed && tried < TRIES => {
                eprintln!("{m}");
            }
            Err(CoreError::Invalid(m)) if m == CODE_MISMATCH => {
                anyhow::bail!("{m} The account was not made.")
            }
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("no code was given: the account was not made")
}

/// The password typed at the terminal with echo off, asked for twice; the two must match.
fn read_password_at_terminal(username: &str) -> anyhow::Result<String> {
    let first = rpassword::prompt_password(format!("Password for {username}: "))
        .context("reading the password at the terminal")?;
    let again = rpassword::prompt_password("The same password again: ")
        .context("reading the password at the terminal")?;
    if first != again {
        anyhow::bail!("the two passwords differ: the account was not made");
    }
    Ok(first)
}

/// Make the account with its factor on; prints the first line on success.
async fn create(
    services: &Services,
    args: &CreateArgs,
    password: &str,
    secret: &str,
    code: &str,
) -> Result<Enrolled, CoreError> {
    let (user, enrolled) = services
        .create_user_with_totp(
            &args.name,
            &args.email,
            password,
            args.admin,
            secret,
            code,
            &cli_actor(),
            &cli_meta(),
        )
        .await?;
    println!(
        "created user {} (id {}){}, with two-factor authentication on (TOTP)",
        user.username,
        user.id,
        role(args.admin)
    );
    Ok(enrolled)
}

fn role(admin: bool) -> &'static str {
    if admin { " as administrator" } else { "" }
}

fn print_recovery_codes(enrolled: &Enrolled) {
    println!(
        "Recovery codes: each signs in once in place of a code if the app is lost. They are shown only now: keep them apart from the app."
    );
    for code in &enrolled.recovery_codes {
        println!("  {code}");
    }
}

/// The QR code of `uri` in half-block characters, drawn for a dark terminal (light modules as
/// blocks), with its quiet zone.
fn terminal_qr(uri: &str) -> anyhow::Result<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(uri.as_bytes()).context("drawing the QR code")?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}
