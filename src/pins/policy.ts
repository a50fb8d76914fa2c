// No Node built-ins and no imports: the worker configuration, the CLI and the validator share these defaults,
// so a certificate `pinrotate validate` accepts is one a rotation accepts.

/** The issuer CN a client leaf must carry unless configured otherwise (DESIGN.md §5). */
export const DEFAULT_EXPECTED_ISSUER = 'GenesysCloudArchitectureCA';
/** How long a leaf must stay valid after the check, as an operator writes it (worker `PIN_MIN_REMAINING`). */
export const DEFAULT_MIN_REMAINING = '7d';
export const DEFAULT_MIN_REMAINING_MS = 7 * 86_400_000;

/** id-kp-clientAuth and anyExtendedKeyUsage (RFC 5280 §4.2.1.12). */
export const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';
export const ANY_EXTENDED_KEY_USAGE_OID = '2.5.29.37.0';

/** Key strength on every certificate of the path (KEY_TOO_WEAK); DSA is refused whatever its size. */
export const MIN_RSA_BITS = 2048;
export const MIN_EC_BITS = 256;

/** Signature hashes refused anywhere on the path (WEAK_SIGNATURE_ALGORITHM). */
export const WEAK_HASHES: readonly string[] = ['MD2', 'MD4', 'MD5', 'SHA-1'];

/** Path building bounds: hostile pools of same-named, cross-signing CAs stay cheap. */
export const MAX_PATH_INTERMEDIATES = 8;
export const MAX_COMPLETE_PATHS = 32;
export const MAX_PATH_STEPS = 256;
