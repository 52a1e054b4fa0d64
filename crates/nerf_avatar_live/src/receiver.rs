//! [`LiveLinkReceiver`]: a thread that reads Live Link Face packets from a UDP socket, keeps
//! those from the allowed sender and subject that arrive in timecode order, and publishes the
//! newest as a [`LiveFrame`] for callers that never wait on the network.
//!
//! # Timecode order
//! The receiver remembers the newest timecode accepted from each subject. A packet at or
//! after it is accepted. One before it is stale, and dropped, when it is at most
//! [`ReceiverSettings::reorder_window_frames`] frames before it (UDP delivered it late or
//! twice); further back it is a reset, and accepted as the subject's new newest: the timecode
//! rolled over at midnight (the app counts frames since midnight), the app restarted or its
//! timecode source changed. A packet at another frame rate than the newest is a reset too.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::livelink::{self, FrameTime, MAX_PACKET_BYTES, Packet, PacketError};
use crate::timecode::{Arrival, arrival};

/// How many subjects' newest timecodes the receiver remembers; past that, the subject
/// accepted longest ago is forgotten (its next packet is accepted as if it were its first).
const MAX_TRACKED_SUBJECTS: usize = 64;

/// Where and from whom a [`LiveLinkReceiver`] takes packets.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceiverSettings {
    /// The address the socket binds: loopback and port 11111 by default; `0.0.0.0:11111` to
    /// hear a phone on the network, port 0 for any free port ([`LiveLinkReceiver::local_addr`]).
    pub bind_address: SocketAddr,
    /// The only sender IP address accepted, or any sender where `None`.
    pub allowed_sender: Option<IpAddr>,
    /// The only subject name accepted, or every subject where `None`.
    pub subject: Option<String>,
    /// How many frames late a packet may be and still count as stale (dropped) rather than as
    /// its sender starting over (accepted): see the module's "Timecode order". Default 120, two seconds at
    /// 60 fps. 0 drops only packets of the newest frame with an earlier sub-frame: for
    /// senders whose timecode is not monotonic (`pylivelinkface` jumps back by tens of
    /// frames).
    pub reorder_window_frames: u32,
    /// How long the thread waits on the socket before it looks whether it should stop: at
    /// most this long passes between dropping the receiver and its thread ending. Default
    /// 20 ms.
    pub poll_interval: Duration,
}

impl Default for ReceiverSettings {
    fn default() -> Self {
        Self {
            bind_address: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), livelink::DEFAULT_PORT),
            allowed_sender: None,
            subject: None,
            reorder_window_frames: 120,
            poll_interval: Duration::from_millis(20),
        }
    }
}

/// The newest accepted packet and when it came.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveFrame {
    /// The packet.
    pub packet: Packet,
    /// Counts accepted packets from 1: a frame with a higher number is newer.
    pub sequence: u64,
    /// When the receiver read it.
    pub received_at: Instant,
    /// Who sent it.
    pub sender: SocketAddr,
}

/// What the receiver has read, by outcome. Every datagram read lands in exactly one of
/// `accepted`, `malformed`, `wrong_sender`, `other_subject` and `stale`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReceiverStats {
    /// Packets published.
    pub accepted: u64,
    /// Of those, packets whose timecode started over (see the module's "Timecode order").
    pub timecode_resets: u64,
    /// Datagrams that are not a Live Link Face packet.
    pub malformed: u64,
    /// Datagrams from a sender other than [`ReceiverSettings::allowed_sender`].
    pub wrong_sender: u64,
    /// Packets of a subject other than [`ReceiverSettings::subject`].
    pub other_subject: u64,
    /// Packets older than the newest accepted from their subject.
    pub stale: u64,
    /// Errors reading the socket other than its timeout.
    pub socket_errors: u64,
    /// Why the last malformed datagram was refused.
    pub last_malformed: Option<PacketError>,
    /// The last socket error, as text.
    pub last_socket_error: Option<String>,
}

/// Why a receiver could not start.
#[derive(Debug, Error)]
pub enum ReceiverError {
    /// The socket would not bind (the port is taken, the address is not this machine's).
    #[error("cannot bind the Live Link receiver to {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The bound socket would not take its read timeout or tell its address.
    #[error("cannot set up the Live Link socket on {address}: {source}")]
    Socket {
        /// The address it was bound to.
        address: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The receiving thread would not start.
    #[error("cannot start the Live Link receiver thread: {0}")]
    Thread(io::Error),
}

/// Receives Live Link Face packets on its own thread. [`LiveLinkReceiver::latest`] and
/// [`LiveLinkReceiver::stats`] never wait on the network; dropping the receiver stops and
/// joins the thread.
#[derive(Debug)]
pub struct LiveLinkReceiver {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    local_addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

/// What the thread publishes.
#[derive(Debug, Default)]
struct Shared {
    latest: Mutex<Option<Arc<LiveFrame>>>,
    stats: Mutex<ReceiverStats>,
}

impl LiveLinkReceiver {
    /// Binds the socket and starts the thread.
    pub fn bind(settings: ReceiverSettings) -> Result<Self, ReceiverError> {
        let address = settings.bind_address;
        let socket =
            UdpSocket::bind(address).map_err(|source| ReceiverError::Bind { address, source })?;
        let setup = |source| ReceiverError::Socket { address, source };
        // A zero timeout is refused by the socket: wait at least a millisecond.
        let poll = settings.poll_interval.max(Duration::from_millis(1));
        socket.set_read_timeout(Some(poll)).map_err(setup)?;
        let local_addr = socket.local_addr().map_err(setup)?;
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut worker = Worker {
            socket,
            settings,
            shared: Arc::clone(&shared),
            stop: Arc::clone(&stop),
            newest: HashMap::new(),
            sequence: 0,
        };
        let thread = std::thread::Builder::new()
            .name(format!("livelink {local_addr}"))
            .spawn(move || worker.run())
            .map_err(ReceiverError::Thread)?;
        Ok(Self {
            shared,
            stop,
            local_addr,
            thread: Some(thread),
        })
    }

    /// The address the socket is bound to (the port chosen where the settings said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The newest accepted frame, `None` before the first. Compare its
    /// [`LiveFrame::sequence`] with the last one seen to tell a new frame from the same one.
    pub fn latest(&self) -> Option<Arc<LiveFrame>> {
        lock(&self.shared.latest).clone()
    }

    /// The counters so far.
    pub fn stats(&self) -> ReceiverStats {
        lock(&self.shared.stats).clone()
    }
}

impl Drop for LiveLinkReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // The thread only reads and publishes; a panic there has nothing left to report.
            let _ = thread.join();
        }
    }
}

/// Locks `mutex`, also after a panic elsewhere poisoned it (what it guards is always whole:
/// each write replaces a value).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The receiving thread's state.
struct Worker {
    socket: UdpSocket,
    settings: ReceiverSettings,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    /// Per subject name, the newest accepted timecode and when it was accepted.
    newest: HashMap<String, (FrameTime, Instant)>,
    sequence: u64,
}

/// What became of one datagram.
enum Outcome {
    Accepted { reset: bool },
    Malformed(PacketError),
    WrongSender,
    OtherSubject,
    Stale,
}

impl Worker {
    fn run(&mut self) {
        // One byte more than the longest packet, so that an oversized datagram is seen as such
        // instead of cut to a packet's length.
        let mut buffer = vec![0u8; MAX_PACKET_BYTES + 1];
        while !self.stop.load(Ordering::Relaxed) {
            match self.socket.recv_from(&mut buffer) {
                Ok((len, sender)) => {
                    let received_at = Instant::now();
                    let outcome = self.judge(&buffer[..len], sender, received_at);
                    self.count(outcome);
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(error) => {
                    let mut stats = lock(&self.shared.stats);
                    stats.socket_errors += 1;
                    stats.last_socket_error = Some(error.to_string());
                    drop(stats);
                    // Some errors (ICMP port unreachable on some systems) repeat at once:
                    // wait as a timeout would, not spin.
                    std::thread::sleep(self.settings.poll_interval);
                }
            }
        }
    }

    /// Decides on one datagram, publishing it where accepted.
    fn judge(&mut self, bytes: &[u8], sender: SocketAddr, received_at: Instant) -> Outcome {
        if self
            .settings
            .allowed_sender
            .is_some_and(|allowed| allowed != sender.ip())
        {
            return Outcome::WrongSender;
        }
        let packet = match livelink::parse(bytes) {
            Ok(packet) => packet,
            Err(error) => return Outcome::Malformed(error),
        };
        if self
            .settings
            .subject
            .as_ref()
            .is_some_and(|subject| *subject != packet.subject_name)
        {
            return Outcome::OtherSubject;
        }
        let reset = match self.newest.get(&packet.subject_name) {
            None => false,
            Some((newest, _)) => {
                match arrival(
                    newest,
                    &packet.frame_time,
                    self.settings.reorder_window_frames,
                ) {
                    Arrival::InOrder => false,
                    Arrival::Reset => true,
                    Arrival::Stale => return Outcome::Stale,
                }
            }
        };
        self.remember(&packet, received_at);
        self.sequence += 1;
        let frame = LiveFrame {
            packet,
            sequence: self.sequence,
            received_at,
            sender,
        };
        *lock(&self.shared.latest) = Some(Arc::new(frame));
        Outcome::Accepted { reset }
    }

    /// Records `packet`'s timecode as its subject's newest, forgetting the subject accepted
    /// longest ago where too many are remembered.
    fn remember(&mut self, packet: &Packet, received_at: Instant) {
        if !self.newest.contains_key(&packet.subject_name)
            && self.newest.len() >= MAX_TRACKED_SUBJECTS
        {
            let oldest = self
                .newest
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(name, _)| name.clone());
            if let Some(oldest) = oldest {
                self.newest.remove(&oldest);
            }
        }
        self.newest.insert(
            packet.subject_name.clone(),
            (packet.frame_time, received_at),
        );
    }

    fn count(&self, outcome: Outcome) {
        let mut stats = lock(&self.shared.stats);
        match outcome {
            Outcome::Accepted { reset } => {
                stats.accepted += 1;
                stats.timecode_resets += u64::from(reset);
            }
            Outcome::Malformed(error) => {
                stats.malformed += 1;
                stats.last_malformed = Some(error);
            }
            Outcome::WrongSender => stats.wrong_sender += 1,
            Outcome::OtherSubject => stats.other_subject += 1,
            Outcome::Stale => stats.stale += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::livelink::{BLENDSHAPE_COUNT, HeadPose, encode};

    fn packet(subject: &str, frame: i32, jaw_open: f32) -> Packet {
        let mut blendshapes = [0.0; BLENDSHAPE_COUNT];
        blendshapes[17] = jaw_open;
        Packet {
            device_id: "test-device".into(),
            subject_name: subject.into(),
            frame_time: FrameTime {
                frame,
                sub_frame: 0.0,
                rate_numerator: 60,
                rate_denominator: 1,
            },
            blendshapes,
            pose: HeadPose::default(),
        }
    }

    fn loopback_settings() -> ReceiverSettings {
        ReceiverSettings {
            bind_address: "127.0.0.1:0".parse().unwrap(),
            ..ReceiverSettings::default()
        }
    }

    /// A socket that sends to `receiver`.
    fn sender_to(receiver: &LiveLinkReceiver) -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(receiver.local_addr()).unwrap();
        socket
    }

    /// Waits until the receiver has read `datagrams` datagrams in all.
    fn wait_for(receiver: &LiveLinkReceiver, datagrams: u64) -> ReceiverStats {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let stats = receiver.stats();
            let read = stats.accepted
                + stats.malformed
                + stats.wrong_sender
                + stats.other_subject
                + stats.stale;
            if read >= datagrams {
                return stats;
            }
            assert!(
                Instant::now() < deadline,
                "only {read} of {datagrams} read: {stats:?}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn the_default_binds_loopback_on_the_live_link_port() {
        let settings = ReceiverSettings::default();
        assert_eq!(settings.bind_address, "127.0.0.1:11111".parse().unwrap());
        assert_eq!(settings.allowed_sender, None);
    }

    #[test]
    fn packets_are_published_newest_first_and_late_ones_dropped() {
        let receiver = LiveLinkReceiver::bind(loopback_settings()).unwrap();
        assert!(receiver.latest().is_none());
        let socket = sender_to(&receiver);
        socket.send(&encode(&packet("face", 1000, 0.25))).unwrap();
        wait_for(&receiver, 1);
        let first = receiver.latest().expect("a frame");
        assert_eq!(first.sequence, 1);
        assert_eq!(first.packet.blendshapes[17], 0.25);
        assert_eq!(first.sender, socket.local_addr().unwrap());

        socket.send(&encode(&packet("face", 999, 0.5))).unwrap(); // late: stale
        socket.send(&[1, 2, 3]).unwrap(); // malformed
        socket.send(&encode(&packet("face", 1000, 0.5))).unwrap(); // same timecode: in order
        socket.send(&encode(&packet("face", 5, 0.75))).unwrap(); // far back: a reset
        let stats = wait_for(&receiver, 5);
        assert_eq!(stats.accepted, 3, "{stats:?}");
        assert_eq!(stats.stale, 1);
        assert_eq!(stats.malformed, 1);
        assert_eq!(stats.timecode_resets, 1);
        assert_eq!(stats.last_malformed, Some(PacketError::TooShort { len: 3 }));
        let latest = receiver.latest().unwrap();
        assert_eq!(latest.sequence, 3);
        assert_eq!(latest.packet.blendshapes[17], 0.75);
        assert!(latest.received_at >= first.received_at);
    }

    #[test]
    fn subjects_keep_their_own_timecodes() {
        let receiver = LiveLinkReceiver::bind(loopback_settings()).unwrap();
        let socket = sender_to(&receiver);
        socket.send(&encode(&packet("a", 1000, 0.1))).unwrap();
        socket.send(&encode(&packet("b", 10, 0.2))).unwrap();
        socket.send(&encode(&packet("a", 999, 0.3))).unwrap();
        let stats = wait_for(&receiver, 3);
        assert_eq!((stats.accepted, stats.stale), (2, 1), "{stats:?}");
        assert_eq!(receiver.latest().unwrap().packet.subject_name, "b");
    }

    #[test]
    fn other_subjects_and_senders_are_dropped() {
        let receiver = LiveLinkReceiver::bind(ReceiverSettings {
            subject: Some("followed".into()),
            ..loopback_settings()
        })
        .unwrap();
        let socket = sender_to(&receiver);
        socket.send(&encode(&packet("someone", 1, 0.1))).unwrap();
        socket.send(&encode(&packet("followed", 1, 0.2))).unwrap();
        let stats = wait_for(&receiver, 2);
        assert_eq!((stats.accepted, stats.other_subject), (1, 1), "{stats:?}");
        assert_eq!(receiver.latest().unwrap().packet.subject_name, "followed");

        let guarded = LiveLinkReceiver::bind(ReceiverSettings {
            allowed_sender: Some("192.0.2.7".parse().unwrap()),
            ..loopback_settings()
        })
        .unwrap();
        sender_to(&guarded)
            .send(&encode(&packet("face", 1, 0.1)))
            .unwrap();
        let stats = wait_for(&guarded, 1);
        assert_eq!((stats.accepted, stats.wrong_sender), (0, 1), "{stats:?}");
        assert!(guarded.latest().is_none());
    }

    #[test]
    fn an_oversized_datagram_is_malformed_not_cut() {
        let receiver = LiveLinkReceiver::bind(loopback_settings()).unwrap();
        let mut bytes = encode(&packet("face", 1, 0.1));
        bytes.resize(MAX_PACKET_BYTES + 500, 0);
        sender_to(&receiver).send(&bytes).unwrap();
        let stats = wait_for(&receiver, 1);
        assert!(
            matches!(stats.last_malformed, Some(PacketError::Oversized { .. })),
            "{stats:?}"
        );
    }

    #[test]
    fn a_taken_port_is_a_bind_error_and_drop_stops_the_thread() {
        let receiver = LiveLinkReceiver::bind(loopback_settings()).unwrap();
        let error = LiveLinkReceiver::bind(ReceiverSettings {
            bind_address: receiver.local_addr(),
            ..loopback_settings()
        })
        .unwrap_err();
        assert!(matches!(error, ReceiverError::Bind { .. }), "{error}");
        let address = receiver.local_addr();
        // Dropped on another thread, so that a drop that never returns fails the test instead
        // of hanging it.
        let (done, dropped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(receiver);
            let _ = done.send(());
        });
        dropped
            .recv_timeout(Duration::from_secs(1))
            .expect("dropping the receiver stops its thread within the poll interval");
        // The socket is closed with the thread: the port binds again.
        LiveLinkReceiver::bind(ReceiverSettings {
            bind_address: address,
            ..loopback_settings()
        })
        .unwrap();
    }
}
