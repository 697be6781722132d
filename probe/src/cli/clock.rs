//! `probe clock`: the local clock status.

use super::super::*;

#[derive(Args, Debug)]
pub(crate) struct ClockArgs {
    /// Output: one line per field, or JSON.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Show the status as it is with this stated error.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    clock_error: Option<Duration>,
}

pub(crate) fn clock(args: ClockArgs) -> Result<ExitCode> {
    let mut status = ClockStatus::read().context("adjtimex failed")?;
    if let Some(error) = args.clock_error {
        status = status.with_stated_error(error);
    }
    let boot = boot_id();
    match args.format {
        Format::Json => {
            let mut v = serde_json::to_value(&status)?;
            if let Some(obj) = v.as_object_mut() {
                obj.insert("boot_id".to_owned(), serde_json::json!(boot));
            }
            println!("{v}");
        }
        Format::Table => {
            println!("{status}");
            println!("boot_id: {}", boot.as_deref().unwrap_or("unknown"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
