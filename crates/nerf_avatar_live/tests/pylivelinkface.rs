//! Our Live Link Face parser and receiver against another implementation of the packet:
//! PyPI `pylivelinkface==0.1` encodes packets and sends them to a receiver on a loopback
//! port (`tests/send_pylivelinkface.py`); every field we read must equal what it encoded.
//! Needs a python with pylivelinkface (`NERF_AVATAR_REQUIRE=livelink` makes its absence a
//! failure).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nerf_avatar_live::livelink::{self, Packet, VALUE_COUNT};
use nerf_avatar_live::{LiveLinkReceiver, ReceiverSettings, ReceiverStats};
use test_requirements::{Requirement, available};

const PACKETS: usize = 8;

/// What the script says it encoded in one packet.
struct Encoded {
    datagram: Vec<u8>,
    device_id: String,
    subject_name: String,
    frame: i32,
    sub_frame: f32,
    rate: (i32, i32),
    values: [f32; VALUE_COUNT],
}

fn parse_line(line: &str) -> Encoded {
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.len(), 7 + VALUE_COUNT, "{line}");
    let number = |i: usize| {
        fields[i]
            .parse::<f64>()
            .unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let hex = fields[0];
    let datagram = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    Encoded {
        datagram,
        device_id: fields[1].into(),
        subject_name: fields[2].into(),
        frame: number(3) as i32,
        sub_frame: number(4) as f32,
        rate: (number(5) as i32, number(6) as i32),
        values: std::array::from_fn(|i| number(7 + i) as f32),
    }
}

fn assert_matches(packet: &Packet, encoded: &Encoded) {
    assert_eq!(packet.device_id, encoded.device_id);
    assert_eq!(packet.subject_name, encoded.subject_name);
    let time = packet.frame_time;
    assert_eq!(time.frame, encoded.frame);
    assert_eq!(time.sub_frame, encoded.sub_frame);
    assert_eq!((time.rate_numerator, time.rate_denominator), encoded.rate);
    assert_eq!(packet.blendshapes[..], encoded.values[..52]);
    let pose = packet.pose;
    let rotations: Vec<f32> = [pose.head, pose.left_eye, pose.right_eye]
        .iter()
        .flat_map(|r| [r.yaw, r.pitch, r.roll])
        .collect();
    assert_eq!(rotations[..], encoded.values[52..]);
}

fn wait_for_datagrams(receiver: &LiveLinkReceiver, count: u64) -> ReceiverStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = receiver.stats();
        let read = stats.accepted + stats.malformed + stats.stale + stats.wrong_sender;
        if read >= count || Instant::now() > deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn packets_from_pylivelinkface_read_as_it_encoded_them() {
    let Some(python) = available(
        Requirement::Livelink,
        test_requirements::pylivelinkface_python(),
    ) else {
        return;
    };
    let receiver = LiveLinkReceiver::bind(ReceiverSettings {
        bind_address: "127.0.0.1:0".parse().unwrap(),
        allowed_sender: Some("127.0.0.1".parse().unwrap()),
        subject: Some("pylivelinkface_test".into()),
        // pylivelinkface takes the frame number from the clock with the milliseconds read as
        // frames: it jumps back and forth by tens of frames within a second. No reordering
        // window, then: each jump back is a reset, and every packet is accepted.
        reorder_window_frames: 0,
        ..ReceiverSettings::default()
    })
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/send_pylivelinkface.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(receiver.local_addr().port().to_string())
        .arg(PACKETS.to_string())
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let encoded: Vec<Encoded> = stdout.lines().map(parse_line).collect();
    assert_eq!(encoded.len(), PACKETS);

    for encoded in &encoded {
        let packet = livelink::parse(&encoded.datagram)
            .unwrap_or_else(|error| panic!("pylivelinkface's packet refused: {error}"));
        assert_matches(&packet, encoded);
        assert_eq!(
            livelink::encode(&packet),
            encoded.datagram,
            "our encoder differs"
        );
    }

    let stats = wait_for_datagrams(&receiver, PACKETS as u64);
    assert_eq!(stats.accepted, PACKETS as u64, "{stats:?}");
    let latest = receiver.latest().expect("a frame");
    assert_eq!(latest.sequence, PACKETS as u64);
    assert_matches(&latest.packet, encoded.last().unwrap());
}
