//! `moat monitor`: stream the datapath's flow events, like `cilium monitor`.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use moat_loader::EventReader;
use moat_loader::names::{EventView, describe};

use super::kernel::{Format, PinDirArg, fail, names_for};
use crate::common::EXIT_USAGE;

/// Stream flow events: new connections, verdict changes and drops, each
/// with the policy and the file:line of the rule that decided it.
#[derive(Args)]
#[command(after_help = "Example:\n  moat monitor --verdict dropped --pod default/web-server")]
pub struct MonitorArgs {
    #[command(flatten)]
    pin: PinDirArg,

    /// Only events with this verdict.
    #[arg(long, value_enum)]
    verdict: Option<VerdictFilter>,

    /// Only events from or to this pod (NAMESPACE/POD).
    #[arg(long, value_name = "NS/POD")]
    pod: Option<String>,

    /// Only events with this source or destination port (or service port).
    #[arg(long)]
    port: Option<u16>,

    /// Image file to name pods and rules; default: the stored active image.
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,

    /// Stop after this many events.
    #[arg(long, value_name = "N")]
    count: Option<usize>,

    /// Output format: one line of text or one JSON object per event.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum VerdictFilter {
    Dropped,
    Forwarded,
}

pub fn run(args: &MonitorArgs) -> u8 {
    let mut names = match names_for(&args.pin.pin_dir, args.image.as_deref()) {
        Ok(names) => names,
        Err(code) => return code,
    };
    let pod_ip = match &args.pod {
        None => None,
        Some(pod) => match names.pod_ip(pod) {
            Some(ip) => Some(ip),
            None => {
                eprintln!("error: unknown pod `{pod}`: expected NAMESPACE/POD of the loaded image");
                return EXIT_USAGE;
            }
        },
    };
    let mut reader = match EventReader::open(&args.pin.pin_dir) {
        Ok(reader) => reader,
        Err(e) => return fail(&e),
    };

    let mut seen = 0usize;
    let mut generation = active_generation(args);
    loop {
        let events = match reader.poll(Duration::from_millis(500)) {
            Ok(events) => events,
            Err(e) => return fail(&e),
        };
        // A new image brings new rule numbers: reload the names.
        let current = active_generation(args);
        if current != generation && args.image.is_none() {
            if let Ok(fresh) = names_for(&args.pin.pin_dir, None) {
                names = fresh;
            }
            generation = current;
        }
        for event in &events {
            let view = describe(event, &names);
            if !matches(args, pod_ip, &view) {
                continue;
            }
            print_event(args.output, &view);
            seen += 1;
            if args.count.is_some_and(|n| seen >= n) {
                return 0;
            }
        }
    }
}

fn active_generation(args: &MonitorArgs) -> u32 {
    moat_loader::inspect::active(&args.pin.pin_dir).map_or(0, |a| a.generation)
}

fn matches(args: &MonitorArgs, pod_ip: Option<Ipv4Addr>, view: &EventView) -> bool {
    let event = &view.event;
    let verdict_ok = match args.verdict {
        None => true,
        Some(VerdictFilter::Dropped) => view.verdict == "dropped",
        Some(VerdictFilter::Forwarded) => view.verdict == "forwarded",
    };
    let pod_ok = pod_ip.is_none_or(|ip| event.saddr == ip.octets() || event.daddr == ip.octets());
    let port_ok = args.port.is_none_or(|port| {
        let be = port.to_be_bytes();
        let service = view.service.is_some() && event.service_port == be;
        event.sport == be || event.dport == be || service
    });
    verdict_ok && pod_ok && port_ok
}

fn print_event(format: Format, view: &EventView) {
    match format {
        Format::Text => println!("{}", view.line()),
        Format::Json => match serde_json::to_string(view) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("error: failed to encode JSON: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use moat_loader::layout::{self, FlowEvent};
    use moat_loader::names::Names;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: MonitorArgs,
    }

    fn args(flags: &[&str]) -> MonitorArgs {
        let argv = std::iter::once("monitor").chain(flags.iter().copied());
        Cli::parse_from(argv).args
    }

    fn view(verdict: u8, dport: u16, service_port: Option<u16>) -> EventView {
        let mut event = FlowEvent {
            saddr: [10, 0, 0, 1],
            daddr: [10, 0, 0, 2],
            sport: 40000u16.to_be_bytes(),
            dport: dport.to_be_bytes(),
            protocol: 6,
            verdict,
            ..FlowEvent::default()
        };
        if let Some(port) = service_port {
            event.flags |= layout::EVENT_F_SERVICE;
            event.service_addr = [10, 96, 0, 10];
            event.service_port = port.to_be_bytes();
        }
        describe(&event, &Names::default())
    }

    #[test]
    fn verdict_filter() {
        let dropped = args(&["--verdict", "dropped"]);
        assert!(matches(
            &dropped,
            None,
            &view(layout::VERDICT_DROPPED, 80, None)
        ));
        assert!(!matches(
            &dropped,
            None,
            &view(layout::VERDICT_FORWARDED, 80, None)
        ));
        let forwarded = args(&["--verdict", "forwarded"]);
        assert!(matches(
            &forwarded,
            None,
            &view(layout::VERDICT_FORWARDED, 80, None)
        ));
    }

    #[test]
    fn port_filter_matches_service_port() {
        let port = args(&["--port", "8080"]);
        assert!(!matches(
            &port,
            None,
            &view(layout::VERDICT_FORWARDED, 80, None)
        ));
        assert!(matches(
            &port,
            None,
            &view(layout::VERDICT_FORWARDED, 80, Some(8080))
        ));
        assert!(matches(
            &port,
            None,
            &view(layout::VERDICT_FORWARDED, 8080, None)
        ));
    }

    #[test]
    fn pod_filter_matches_either_end() {
        let none = args(&[]);
        let event = view(layout::VERDICT_DROPPED, 80, None);
        assert!(matches(&none, Some(Ipv4Addr::new(10, 0, 0, 2)), &event));
        assert!(matches(&none, Some(Ipv4Addr::new(10, 0, 0, 1)), &event));
        assert!(!matches(&none, Some(Ipv4Addr::new(10, 0, 0, 3)), &event));
    }
}
