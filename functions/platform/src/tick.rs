//! The cron trigger's message to each handler: which schedule fired and the scheduled time,
//! which the handler uses as `now` (so a test can fire the trigger "in an hour").

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tick {
    pub cron: String,
    /// Milliseconds since the epoch at which the trigger was scheduled.
    pub scheduled_ms: i64,
}
