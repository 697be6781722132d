//! Geodesy: great-circle distance and the speed-of-light-in-fibre lower bound
//! that stretch and suggested direct links are measured against.

use crate::model::LatLon;

/// Mean Earth radius (IUGG), km.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// One-way propagation delay in standard single-mode fibre (group index about
/// 1.468): about 4.9 microseconds per km.
pub const FIBRE_US_PER_KM: f64 = 4.9;

/// Great-circle distance in km (haversine, numerically stable for short distances).
pub fn great_circle_km(a: LatLon, b: LatLon) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The one-way delay light in fibre needs over the great-circle distance: no real
/// path can beat it.
pub fn fibre_lower_bound_ms(a: LatLon, b: LatLon) -> f64 {
    great_circle_km(a, b) * FIBRE_US_PER_KM / 1000.0
}

/// One-way delay of a fibre path `route_factor` times the great-circle distance.
pub fn fibre_delay_ms(km: f64, route_factor: f64) -> f64 {
    km * route_factor * FIBRE_US_PER_KM / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lon: f64) -> LatLon {
        LatLon { lat, lon }
    }

    #[test]
    fn published_distances() {
        // Zhongwei-Beijing and Zhongwei-Shanghai as given in shared/data/latency-facts.md.
        let zhongwei = p(37.50, 105.19);
        let beijing = p(39.904, 116.407);
        let shanghai = p(31.230, 121.474);
        assert!((great_circle_km(zhongwei, beijing) - 1009.0).abs() < 10.0);
        assert!((great_circle_km(zhongwei, shanghai) - 1646.0).abs() < 15.0);
    }

    #[test]
    fn known_geometry() {
        // A quarter of a meridian, and a degree of longitude on the equator.
        assert!((great_circle_km(p(0.0, 0.0), p(90.0, 0.0)) - 10007.5).abs() < 1.0);
        assert!((great_circle_km(p(0.0, 0.0), p(0.0, 1.0)) - 111.195).abs() < 0.01);
        // Antipodes and across the date line.
        assert!((great_circle_km(p(0.0, 0.0), p(0.0, 180.0)) - 20015.1).abs() < 1.0);
        assert!((great_circle_km(p(0.0, 179.5), p(0.0, -179.5)) - 111.195).abs() < 0.01);
        assert_eq!(great_circle_km(p(30.0, 104.0), p(30.0, 104.0)), 0.0);
    }

    #[test]
    fn fibre_bound() {
        // 1,000 km of fibre: 4.9 ms one way.
        assert!((fibre_delay_ms(1000.0, 1.0) - 4.9).abs() < 1e-9);
        assert!((fibre_delay_ms(1000.0, 1.5) - 7.35).abs() < 1e-9);
    }
}
