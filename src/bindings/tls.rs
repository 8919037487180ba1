//! TLS over a TCP handle: rustls with the ring provider.
//!
//! This file makes the configurations (`native.tls_server_config`,
//! `tls_client_config`); a TCP handle switched to TLS then reads and writes through
//! the loop's TLS transport (event_loop/tls.rs).
//! Servers choose their certificate by SNI (`SniResolver`); clients verify against the
//! given CA or the system's bundle.

use std::collections::HashMap;
use std::sync::Arc;

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, Table, UserData, Value};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// PEM text as given, or read from the file it names.
fn pem_source(value: &str, what: &str) -> std::result::Result<(Vec<u8>, String), String> {
    if value.contains("-----BEGIN") {
        return Ok((value.as_bytes().to_vec(), format!("{what} (PEM text)")));
    }
    std::fs::read(value)
        .map(|bytes| (bytes, format!("{what} file {value}")))
        .map_err(|e| format!("{what} file {value}: {e}"))
}

/// A cert chain and its key (file paths or PEM text), checked to match; errors name
/// the file.
pub fn load_identity(cert: &str, key: &str) -> std::result::Result<Arc<CertifiedKey>, String> {
    let (cert_pem, cert_name) = pem_source(cert, "cert")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("{cert_name}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{cert_name}: no certificate in it"));
    }
    let (key_pem, key_name) = pem_source(key, "key")?;
    let der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| format!("{key_name}: {e}"))?;
    CertifiedKey::from_der(certs, der, &provider())
        .map(Arc::new)
        .map_err(|e| format!("{key_name} does not go with {cert_name}: {e}"))
}

/// Picks the certificate by the SNI name; the default for unknown or absent names.
#[derive(Debug)]
struct SniResolver {
    default: Arc<CertifiedKey>,
    hosts: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let by_name = hello
            .server_name()
            .and_then(|n| self.hosts.get(&n.to_ascii_lowercase()));
        Some(by_name.unwrap_or(&self.default).clone())
    }
}

pub struct TlsServerConfig(pub Arc<ServerConfig>);
impl UserData for TlsServerConfig {}

pub struct TlsClientConfig(pub Arc<ClientConfig>);
impl UserData for TlsClientConfig {}

fn identity_of(t: &Table, what: &str) -> std::result::Result<Arc<CertifiedKey>, String> {
    let cert: String = t
        .get("cert")
        .map_err(|_| format!("{what}: cert must be a file path"))?;
    let key: String = t
        .get("key")
        .map_err(|_| format!("{what}: key must be a file path"))?;
    load_identity(&cert, &key)
}

/// `native.tls_server_config({ default = { cert, key }, hosts = { [name] = { cert, key } } })`
/// -> config, or nil, err naming the file. ALPN offers http/1.1.
pub fn server_config(lua: &Lua, spec: Table) -> Result<MultiValue> {
    let build = || -> std::result::Result<ServerConfig, String> {
        let default: Table = spec
            .get("default")
            .map_err(|_| "ssl.default must be { cert, key }".to_string())?;
        let default = identity_of(&default, "ssl.default")?;
        let mut hosts = HashMap::new();
        if let Ok(Some(list)) = spec.get::<Option<Table>>("hosts") {
            for pair in list.pairs::<String, Table>() {
                let (name, id) = pair.map_err(|e| format!("ssl.hosts: {e}"))?;
                let identity = identity_of(&id, &format!("ssl.hosts[{name}]"))?;
                hosts.insert(name.to_ascii_lowercase(), identity);
            }
        }
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SniResolver { default, hosts }));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    };
    match build() {
        Ok(c) => lua
            .create_userdata(TlsServerConfig(Arc::new(c)))?
            .into_lua_multi(lua),
        Err(e) => (Value::Nil, e).into_lua_multi(lua),
    }
}

/// Accepts any server certificate (node's rejectUnauthorized = false): signatures are
/// still checked, the chain and the name are not.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `native.tls_client_config(ca_pem?, insecure?)`: verification against `ca_pem` (PEM
/// text) or the system's CA bundle; `insecure` skips verification.
pub fn client_config(
    lua: &Lua,
    (ca, insecure): (Option<mlua::LuaString>, Option<bool>),
) -> Result<MultiValue> {
    if insecure == Some(true) {
        let p = provider();
        let config = match ClientConfig::builder_with_provider(p.clone())
            .with_safe_default_protocol_versions()
        {
            Ok(b) => b
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(p)))
                .with_no_client_auth(),
            Err(e) => return (Value::Nil, e.to_string()).into_lua_multi(lua),
        };
        return lua
            .create_userdata(TlsClientConfig(Arc::new(config)))?
            .into_lua_multi(lua);
    }
    let mut roots = RootCertStore::empty();
    let pem: Vec<u8> = match ca {
        Some(s) => s.as_bytes().to_vec(),
        None => [
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/pki/tls/certs/ca-bundle.crt",
        ]
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .unwrap_or_default(),
    };
    for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return (Value::Nil, "tls: no CA certificates to verify against").into_lua_multi(lua);
    }
    let config = match ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b.with_root_certificates(roots).with_no_client_auth(),
        Err(e) => return (Value::Nil, e.to_string()).into_lua_multi(lua),
    };
    lua.create_userdata(TlsClientConfig(Arc::new(config)))?
        .into_lua_multi(lua)
}
