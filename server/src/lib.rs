pub const DEFAULT_LISTEN: &str = "127.0.0.1:6543";
pub async fn serve(_engine: floe_engine::Engine, _listen: &str) -> std::io::Result<()> {
    Err(std::io::Error::other("TODO"))
}
