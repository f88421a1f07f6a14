//! PyPI's wheel platform-tag allow-list (Warehouse `warehouse/utils/wheel.py`,
//! `_parse_platform_tag`): static tags, macOS 10.x and 11–15/26 (minor 0), manylinux /
//! musllinux `X_Y` with known architectures, iOS, Android and Pyodide (`pyemscripten`).

const ALLOWED_PLATFORMS: &[&str] = &[
    "any",
    "win32",
    "win_arm64",
    "win_amd64",
    "win_ia64",
    "manylinux1_x86_64",
    "manylinux1_i686",
    "manylinux2010_x86_64",
    "manylinux2010_i686",
    "manylinux2014_x86_64",
    "manylinux2014_i686",
    "manylinux2014_aarch64",
    "manylinux2014_armv7l",
    "manylinux2014_ppc64",
    "manylinux2014_ppc64le",
    "manylinux2014_s390x",
    "linux_armv6l",
    "linux_armv7l",
];

/// First `_`-separated word of every tag Warehouse knows how to display.
const KNOWN_PLATFORM_KEYS: &[&str] = &[
    "any",
    "win",
    "win32",
    "manylinux",
    "manylinux2014",
    "manylinux2010",
    "manylinux1",
    "musllinux",
    "macosx",
    "ios",
    "iphoneos",
    "iphonesimulator",
    "android",
    "pyemscripten",
];

const MACOSX_ARCHES: &[&str] = &[
    "ppc",
    "ppc64",
    "i386",
    "x86_64",
    "arm64",
    "intel",
    "fat",
    "fat3",
    "fat64",
    "universal",
    "universal2",
];
/// macOS 11 and later use `macosx_{major}_0`; 10.x uses any minor.
const MACOSX_MAJOR_VERSIONS: &[&str] = &["11", "12", "13", "14", "15", "26"];
const IOS_ARCHES: &[&str] = &["arm64", "x86_64"];
const ANDROID_ARCHES: &[&str] = &["armeabi_v7a", "arm64_v8a", "x86", "x86_64"];
const MUSLLINUX_ARCHES: &[&str] = &[
    "x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64",
];
const MANYLINUX_ARCHES: &[&str] = &[
    "x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64", "ppc64",
];

/// True when PyPI accepts wheels with this platform tag.
pub fn is_allowed_platform_tag(tag: &str) -> bool {
    if ALLOWED_PLATFORMS.contains(&tag) {
        return true;
    }
    let key = tag.split('_').next().unwrap_or(tag);
    if !KNOWN_PLATFORM_KEYS.contains(&key) {
        return false;
    }
    if let Some(rest) = tag.strip_prefix("macosx_")
        && let Some((major, minor, arch)) = two_numbers_then_rest(rest)
    {
        let version_ok = major == "10" || (MACOSX_MAJOR_VERSIONS.contains(&major) && minor == "0");
        if version_ok && MACOSX_ARCHES.contains(&arch) {
            return true;
        }
    }
    for (prefix, arches) in [
        ("manylinux_", MANYLINUX_ARCHES),
        ("musllinux_", MUSLLINUX_ARCHES),
    ] {
        if let Some((_, _, arch)) = tag.strip_prefix(prefix).and_then(two_numbers_then_rest)
            && arches.contains(&arch)
        {
            return true;
        }
    }
    if let Some(rest) = tag.strip_prefix("ios_") {
        let device = rest
            .strip_suffix("_iphoneos")
            .or_else(|| rest.strip_suffix("_iphonesimulator"));
        if let Some((_, _, arch)) = device.and_then(two_numbers_then_rest)
            && IOS_ARCHES.contains(&arch)
        {
            return true;
        }
    }
    if let Some((api, arch)) = tag.strip_prefix("android_").and_then(|r| r.split_once('_'))
        && is_digits(api)
        && ANDROID_ARCHES.contains(&arch)
    {
        return true;
    }
    if let Some((_, _, arch)) = tag
        .strip_prefix("pyemscripten_")
        .and_then(two_numbers_then_rest)
    {
        return arch == "wasm32";
    }
    false
}

/// Split `"{digits}_{digits}_{rest}"` into its three parts.
fn two_numbers_then_rest(s: &str) -> Option<(&str, &str, &str)> {
    let (first, rest) = s.split_once('_')?;
    let (second, rest) = rest.split_once('_')?;
    (is_digits(first) && is_digits(second)).then_some((first, second, rest))
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::is_allowed_platform_tag;

    #[test]
    fn allow_list() {
        let allowed = [
            "any",
            "win32",
            "win_amd64",
            "win_arm64",
            "win_ia64",
            "manylinux1_x86_64",
            "manylinux1_i686",
            "manylinux2010_x86_64",
            "manylinux2014_aarch64",
            "manylinux2014_s390x",
            "manylinux_2_17_x86_64",
            "manylinux_2_28_aarch64",
            "manylinux_2_31_riscv64",
            "manylinux_2_17_ppc64",
            "musllinux_1_1_x86_64",
            "musllinux_1_2_armv7l",
            "macosx_10_9_x86_64",
            "macosx_10_15_universal2",
            "macosx_10_6_intel",
            "macosx_11_0_arm64",
            "macosx_14_0_universal2",
            "macosx_15_0_x86_64",
            "macosx_26_0_arm64",
            "ios_13_0_arm64_iphoneos",
            "ios_13_0_x86_64_iphonesimulator",
            "android_21_arm64_v8a",
            "android_24_armeabi_v7a",
            "android_21_x86",
            "pyemscripten_2025_0_wasm32",
            "linux_armv6l",
            "linux_armv7l",
        ];
        for tag in allowed {
            assert!(is_allowed_platform_tag(tag), "{tag} should be allowed");
        }
        let refused = [
            "",
            "linux_x86_64",
            "linux_aarch64",
            "manylinux_2_17_sparc",
            "musllinux_1_1_ppc64",
            "manylinux1_aarch64",
            "manylinux2014_riscv64",
            "manylinux_x_17_x86_64",
            "macosx_11_1_arm64",
            "macosx_16_0_arm64",
            "macosx_27_0_arm64",
            "macosx_10_9_sparc",
            "macosx_10_fat",
            "ios_13_0_arm64",
            "ios_13_0_armv7_iphoneos",
            "android_21_mips",
            "android_x_x86",
            "pyemscripten_2025_0_wasm64",
            "emscripten_3_1_58_wasm32",
            "win_x86",
            "cygwin_x86_64",
            "ANY",
            "freebsd_13_x86_64",
        ];
        for tag in refused {
            assert!(!is_allowed_platform_tag(tag), "{tag} should be refused");
        }
    }
}
