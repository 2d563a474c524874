//! The TCP rendezvous: rank 0 listens at MASTER_ADDR:MASTER_PORT and hands the NCCL unique id
//! (128 bytes) to every other rank, which connects, says who it is, and reads the id.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Bytes of an NCCL unique id.
pub const ID_BYTES: usize = 128;
/// The id every rank shares.
pub type UniqueId = [u8; ID_BYTES];
/// How long ranks wait for each other by default.
pub const TIMEOUT: Duration = Duration::from_secs(300);
/// First bytes of every hello, so that a stray connection is told apart from a rank.
const MAGIC: &[u8; 8] = b"mart-ddp";
/// Pause between tries while waiting.
const POLL: Duration = Duration::from_millis(20);

/// Rank 0: listens at `addr:port`, then [`serve`]s `id` to the other `world - 1` ranks.
pub fn host(addr: &str, port: u16, world: usize, id: &UniqueId, timeout: Duration) -> Result<()> {
    let listener = TcpListener::bind((addr, port)).with_context(|| {
        format!(
            "rank 0 cannot listen at MASTER_ADDR={addr} MASTER_PORT={port} for the rendezvous: \
             is MASTER_ADDR this node's name, and is the port free (another job may use it; \
             choose another MASTER_PORT)?"
        )
    })?;
    serve(&listener, world, id, timeout)
}

/// Hands `id` to each of the ranks 1 to `world - 1` as they connect to `listener`; an error
/// when they have not all come within `timeout`, or a connection is not a rank of this world.
pub fn serve(listener: &TcpListener, world: usize, id: &UniqueId, timeout: Duration) -> Result<()> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + timeout;
    let mut joined = vec![false; world];
    joined[0] = true;
    while joined.iter().any(|j| !j) {
        match listener.accept() {
            Ok((mut stream, peer)) => {
                stream.set_nonblocking(false)?;
                stream.set_read_timeout(Some(timeout))?;
                let rank = read_hello(&mut stream, world)
                    .with_context(|| format!("rendezvous: a connection from {peer}"))?;
                if joined[rank] {
                    bail!(
                        "rendezvous: rank {rank} joined twice (from {peer}): are two jobs using MASTER_PORT?"
                    );
                }
                stream.write_all(id)?;
                joined[rank] = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    let missing: Vec<String> = (0..world)
                        .filter(|&r| !joined[r])
                        .map(|r| r.to_string())
                        .collect();
                    bail!(
                        "rendezvous: ranks {} of {world} did not join rank 0 within {} s: did every \
                         process start (with srun, not directly in the batch script)?",
                        missing.join(", "),
                        timeout.as_secs()
                    );
                }
                std::thread::sleep(POLL);
            }
            Err(e) => return Err(e).context("rendezvous: accepting a rank"),
        }
    }
    Ok(())
}

/// Rank `rank` of `world`: connects to rank 0 at `addr:port` (retrying until `timeout`, as
/// rank 0 may start later) and returns the id it hands out.
pub fn join(
    addr: &str,
    port: u16,
    rank: usize,
    world: usize,
    timeout: Duration,
) -> Result<UniqueId> {
    let deadline = Instant::now() + timeout;
    let mut stream = loop {
        let tried = (addr, port)
            .to_socket_addrs()
            .with_context(|| format!("rendezvous: cannot resolve MASTER_ADDR={addr}"))
            .and_then(|mut addrs| {
                addrs
                    .find_map(|a| TcpStream::connect_timeout(&a, POLL.max(timeout / 100)).ok())
                    .context("no answer")
            });
        match tried {
            Ok(stream) => break stream,
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| {
                    format!(
                        "rank {rank} found no rank 0 at MASTER_ADDR={addr} MASTER_PORT={port} within {} s",
                        timeout.as_secs()
                    )
                });
            }
            Err(_) => std::thread::sleep(POLL),
        }
    };
    stream.set_read_timeout(Some(timeout))?;
    let mut hello = MAGIC.to_vec();
    hello.extend((rank as u32).to_le_bytes());
    hello.extend((world as u32).to_le_bytes());
    stream.write_all(&hello)?;
    let mut id = [0u8; ID_BYTES];
    stream.read_exact(&mut id).with_context(|| {
        format!("rank {rank}: rank 0 at {addr}:{port} closed the rendezvous before sending the id")
    })?;
    Ok(id)
}

/// Reads a rank's hello (magic, rank, world) and checks it against this world.
fn read_hello(stream: &mut TcpStream, world: usize) -> Result<usize> {
    let mut hello = [0u8; MAGIC.len() + 8];
    stream
        .read_exact(&mut hello)
        .context("it sent no complete hello")?;
    if &hello[..MAGIC.len()] != MAGIC {
        bail!("it is not a mart rank (another program on MASTER_PORT?)");
    }
    let word = |at: usize| u32::from_le_bytes(hello[at..at + 4].try_into().unwrap()) as usize;
    let (rank, theirs) = (word(MAGIC.len()), word(MAGIC.len() + 4));
    if theirs != world {
        bail!("rank {rank} was started with a world of {theirs}, rank 0 with {world}");
    }
    if rank == 0 || rank >= world {
        bail!("it claims rank {rank}, not one of 1 to {}", world - 1);
    }
    Ok(rank)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some_id() -> UniqueId {
        std::array::from_fn(|i| (i * 7 + 3) as u8)
    }

    #[test]
    fn two_ranks_exchange_the_id_on_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let id = some_id();
        let got = std::thread::scope(|s| {
            let server = s.spawn(|| serve(&listener, 2, &id, Duration::from_secs(10)));
            let got = join("127.0.0.1", port, 1, 2, Duration::from_secs(10)).unwrap();
            server.join().unwrap().unwrap();
            got
        });
        assert_eq!(got, id);
    }

    #[test]
    fn a_rank_that_starts_before_rank_0_waits_for_it() {
        // Find a free port, then let rank 1 try it before rank 0 listens.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let id = some_id();
        let got = std::thread::scope(|s| {
            let client = s.spawn(|| join("127.0.0.1", port, 1, 2, Duration::from_secs(10)));
            std::thread::sleep(Duration::from_millis(200));
            host("127.0.0.1", port, 2, &id, Duration::from_secs(10)).unwrap();
            client.join().unwrap().unwrap()
        });
        assert_eq!(got, id);
    }

    #[test]
    fn missing_ranks_and_mismatched_worlds_are_clear_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let message = format!(
            "{:#}",
            serve(&listener, 3, &some_id(), Duration::from_millis(100)).unwrap_err()
        );
        assert!(
            message.contains("ranks 1, 2 of 3 did not join"),
            "{message}"
        );

        let port = listener.local_addr().unwrap().port();
        let message = std::thread::scope(|s| {
            let server = s.spawn(|| serve(&listener, 2, &some_id(), Duration::from_secs(10)));
            // This rank believes the world has 4 processes: rank 0 refuses it.
            let _ = join("127.0.0.1", port, 1, 4, Duration::from_secs(2));
            format!("{:#}", server.join().unwrap().unwrap_err())
        });
        assert!(
            message.contains("started with a world of 4, rank 0 with 2"),
            "{message}"
        );

        let nobody = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = nobody.local_addr().unwrap().port();
        drop(nobody);
        let message = format!(
            "{:#}",
            join("127.0.0.1", port, 1, 2, Duration::from_millis(100)).unwrap_err()
        );
        assert!(message.contains("found no rank 0"), "{message}");
    }
}
