//! Time zones from the runtime: the Workers runtime carries the IANA database in its `Intl`
//! implementation, so the handlers resolve zones through `Intl.DateTimeFormat` instead of
//! compiling a copy of the database into every WASM module. Installed for the domain crate's
//! business-hours arithmetic (`revops::hours`) by [`install`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use revops::hours::{Zone, Zones};
use worker::js_sys::{self, Array, Date, Function, Intl, Object, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};

#[derive(Debug)]
struct IntlZone {
    name: String,
    format: Intl::DateTimeFormat,
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Zone for IntlZone {
    fn name(&self) -> &str {
        &self.name
    }

    fn offset_ms(&self, utc_ms: i64) -> i64 {
        let at = utc_ms.div_euclid(1000) * 1000;
        let parts = self
            .format
            .format_to_parts(&Date::new(&JsValue::from_f64(at as f64)));
        // year, month, day, hour, minute, second
        let mut f = [1970i64, 1, 1, 0, 0, 0];
        for part in parts.iter() {
            let kind = Reflect::get(&part, &"type".into())
                .ok()
                .and_then(|v| v.as_string());
            let value = Reflect::get(&part, &"value".into())
                .ok()
                .and_then(|v| v.as_string())
                .and_then(|v| v.parse::<i64>().ok());
            let slot = match kind.as_deref() {
                Some("year") => 0,
                Some("month") => 1,
                Some("day") => 2,
                Some("hour") => 3,
                Some("minute") => 4,
                Some("second") => 5,
                _ => continue,
            };
            if let Some(v) = value {
                f[slot] = v;
            }
        }
        let days = days_from_civil(f[0], f[1], f[2]);
        let local = (((days * 24 + f[3] % 24) * 60 + f[4]) * 60 + f[5]) * 1000;
        local - at
    }
}

#[derive(Default)]
struct IntlZones {
    cache: RefCell<HashMap<String, Option<Rc<dyn Zone>>>>,
}

fn format_for(name: &str) -> Option<Intl::DateTimeFormat> {
    let intl = Reflect::get(&js_sys::global(), &"Intl".into()).ok()?;
    let constructor: Function = Reflect::get(&intl, &"DateTimeFormat".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let options = Object::new();
    for (key, value) in [
        ("timeZone", name),
        ("hourCycle", "h23"),
        ("year", "numeric"),
        ("month", "numeric"),
        ("day", "numeric"),
        ("hour", "numeric"),
        ("minute", "numeric"),
        ("second", "numeric"),
    ] {
        Reflect::set(&options, &key.into(), &value.into()).ok()?;
    }
    // An unknown zone makes the constructor throw a RangeError: `None`.
    let format = Reflect::construct(&constructor, &Array::of2(&"en-US".into(), &options)).ok()?;
    Some(format.unchecked_into())
}

impl Zones for IntlZones {
    fn zone(&self, name: &str) -> Option<Rc<dyn Zone>> {
        if let Some(hit) = self.cache.borrow().get(name) {
            return hit.clone();
        }
        let zone = format_for(name).map(|format| {
            Rc::new(IntlZone {
                name: name.to_string(),
                format,
            }) as Rc<dyn Zone>
        });
        self.cache
            .borrow_mut()
            .insert(name.to_string(), zone.clone());
        zone
    }
}

/// Makes the runtime's zones available to the domain crate (once per isolate).
pub fn install() {
    if !revops::hours::zones_installed() {
        revops::hours::install_zones(Rc::new(IntlZones::default()));
    }
}

#[cfg(test)]
mod tests {
    use super::days_from_civil;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 22), 20_779);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }
}
