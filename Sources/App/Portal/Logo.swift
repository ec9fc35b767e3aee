/// Sightline's mark: a lens over a sight line. The same drawing is `/favicon.svg`.
enum Logo {
    static func svg(size: Int) -> String {
        """
        <svg class="mark" width="\(size)" height="\(size)" viewBox="0 0 32 32" aria-hidden="true" focusable="false">\
        <rect width="32" height="32" rx="7" fill="#0f5cc0"/>\
        <circle cx="16" cy="16" r="8.5" fill="none" stroke="#fff" stroke-width="3"/>\
        <circle cx="16" cy="16" r="3" fill="#ffd166"/>\
        <path d="M3 16h4M25 16h4" stroke="#fff" stroke-width="3" stroke-linecap="round"/></svg>
        """
    }
}
