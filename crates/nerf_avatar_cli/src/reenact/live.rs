//! `reenact --driver livelink://HOST:PORT`: an avatar driven live by Live Link Face (Epic
//! Games' iPhone app). The command listens for the app's UDP packets at HOST:PORT (bind to
//! `127.0.0.1` for a sender on this machine, to `0.0.0.0` or the machine's address for a
//! phone on the network; `--allowed-sender` keeps out everyone else), renders a frame for the
//! newest packet each time one arrives (packets that arrive while a frame renders are
//! skipped), and writes the frames as `reenact` writes any performance, until `--max-frames`
//! frames, Ctrl-C, or `--idle-timeout` seconds without a packet. Nothing already rendered is
//! lost: the output is finished on every way out.
//!
//! Each packet's 52 ARKit weights go through the performer's neutral calibration (the first
//! `--calibrate N` packets are their rest face, mapped to the avatar's neutral), the one-euro
//! filter, and onto the avatar's coefficients by name, ARKit's range [0, 1] onto the
//! avatar's training range. The head stays at the avatar's own view.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use nerf_avatar::asset::Avatar;
use nerf_avatar::portrait::PortraitView;
use nerf_avatar::render::Background;
use nerf_avatar::renderer::FrameRequest;
use nerf_avatar::retarget::ExpressionRetarget;
use nerf_avatar_live::livelink::{BLENDSHAPE_COUNT, LIVE_LINK_BLENDSHAPES};
use nerf_avatar_live::{
    LiveLinkPerformance, LiveLinkReceiver, OneEuroFilter, OneEuroSettings, PerformanceStep,
    ReceiverSettings,
};

use super::ReenactArgs;
use crate::backend::{choose_renderer, open_renderer};
use crate::frame_sink::FrameSink;
use crate::render::parse_background;

/// The scheme of a Live Link Face driver (`livelink://HOST:PORT`).
pub const SCHEME: &str = "livelink://";

/// How long the loop waits between looks for a new packet.
const POLL: Duration = Duration::from_millis(2);

/// Options of live drivers.
#[derive(Args)]
#[command(next_help_heading = "Live drivers (--driver livelink://HOST:PORT)")]
pub struct LiveArgs {
    /// Take packets only from this address (the phone's).
    #[arg(long)]
    allowed_sender: Option<IpAddr>,
    /// Take the performer's first N frames as their rest face, which then maps to the
    /// avatar's neutral (0: no calibration).
    #[arg(long, default_value_t = 0)]
    calibrate: usize,
    /// Stop after this many seconds without a packet (default: wait until Ctrl-C or
    /// --max-frames).
    #[arg(long)]
    idle_timeout: Option<f32>,
    /// The one-euro filter's cutoff at rest, in Hz: lower removes more jitter from a still
    /// face, and lags more.
    #[arg(long, default_value_t = OneEuroSettings::default().min_cutoff)]
    min_cutoff: f32,
    /// The one-euro filter's speed coefficient: higher follows fast motion (a blink) more
    /// closely, and lets more jitter through while moving.
    #[arg(long, default_value_t = OneEuroSettings::default().beta)]
    beta: f32,
}

/// Reenacts the Live Link Face packets that reach `address` (HOST:PORT).
pub fn run(args: &ReenactArgs, address: &str) -> anyhow::Result<()> {
    let live = &args.live;
    let bind_address: SocketAddr = address.parse().with_context(|| {
        format!("--driver {SCHEME}{address}: not an IP address and port such as 127.0.0.1:11111")
    })?;
    if live
        .idle_timeout
        .is_some_and(|t| !(t.is_finite() && t > 0.0))
    {
        bail!("--idle-timeout must be a positive number of seconds");
    }
    let filter_settings = OneEuroSettings {
        min_cutoff: live.min_cutoff,
        beta: live.beta,
        ..OneEuroSettings::default()
    };
    let filter = OneEuroFilter::new(filter_settings).context("the one-euro filter")?;
    let avatar = Arc::new(Avatar::read(&args.avatar)?);
    let (background, transparent) = parse_background(&args.background)?;
    if transparent {
        bail!("--background transparent is not available for reenactment videos");
    }
    let arkit_range = [(0.0, 1.0); BLENDSHAPE_COUNT];
    let expressions =
        ExpressionRetarget::with_ranges(&LIVE_LINK_BLENDSHAPES, &arkit_range, &avatar);
    super::report_unmapped(&expressions);
    let (width, height) = args.size.unwrap_or(match avatar.intrinsics {
        Some(k) => (k.width, k.height),
        None => (256, 256),
    });
    let (intrinsics, front) = PortraitView::front(width, height).camera(&avatar)?;
    let pose = avatar.view.unwrap_or(front);
    let backend = choose_renderer(args.backend)?;
    let mut renderer = open_renderer(&backend, &avatar, args.backend)?;

    let receiver = LiveLinkReceiver::bind(ReceiverSettings {
        bind_address,
        allowed_sender: live.allowed_sender,
        ..ReceiverSettings::default()
    })
    .with_context(|| format!("listening for Live Link Face on {bind_address}"))?;
    let mut performance = LiveLinkPerformance::new(receiver, filter);
    if live.calibrate > 0 {
        performance.calibrate(live.calibrate);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&stop);
    ctrlc::set_handler(move || handler_flag.store(true, Ordering::Relaxed))
        .context("installing the Ctrl-C handler")?;
    eprintln!(
        "listening for Live Link Face on {} (Ctrl-C stops)",
        performance.local_addr()
    );

    let mut sink = FrameSink::open(&args.out, (width, height), args.fps)?;
    let max_frames = args.max_frames.unwrap_or(usize::MAX);
    let idle_timeout = live.idle_timeout.map(Duration::from_secs_f32);
    let mut last_packet = Instant::now();
    let mut written = 0;
    while written < max_frames && !stop.load(Ordering::Relaxed) {
        let Some(step) = performance.take_newest().context("the rest face")? else {
            if idle_timeout.is_some_and(|timeout| last_packet.elapsed() > timeout) {
                eprintln!(
                    "no packet for {:.1} s: stopping",
                    last_packet.elapsed().as_secs_f32()
                );
                break;
            }
            std::thread::sleep(POLL);
            continue;
        };
        last_packet = Instant::now();
        let PerformanceStep::Frame { weights, .. } = step else {
            if !performance.is_calibrating() {
                eprintln!("calibrated the rest face over {} frames", live.calibrate);
            }
            continue;
        };
        let coefficients = expressions.coefficients(&weights);
        let rendered = renderer.render(&FrameRequest {
            weights: &coefficients,
            intrinsics,
            pose,
            background: Background::Solid(background),
        })?;
        sink.push(&rendered.to_rgb8())?;
        written += 1;
    }
    sink.finish()?;
    let stats = performance.stats();
    eprintln!(
        "reenacted {written} frames of Live Link Face → {}; packets: {} accepted, {} \
         malformed, {} from other senders, {} out of order",
        args.out.display(),
        stats.accepted,
        stats.malformed,
        stats.wrong_sender,
        stats.stale
    );
    if let Some(error) = &stats.last_malformed {
        eprintln!("the last malformed packet: {error}");
    }
    if written == 0 {
        bail!(
            "no Live Link Face frame reached {}",
            performance.local_addr()
        );
    }
    Ok(())
}
