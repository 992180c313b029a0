//! The staff pages in Spanish (usted, as the client pages and the mail). Core errors are worded
//! here by variant: their `Display` is English.

use portal_core::account::{InviteRefused, ResetRefused, ToggleRefused};
use portal_core::service::{SendInviteError, SendResetError, SkipReason, ToggleError};
use portal_core::{
    Actor, AuditAction, AuditFailure, DeliveryCause, InvalidInput, Language, PortalStatusKind, SecondFactorKind,
};

use super::Said;
use super::staff::StaffTexts;

pub(super) const STAFF_TEXTS: StaffTexts = StaffTexts {
    staff_nav: "Personal",
    practice_settings: "Configuración de la consulta",
    sign_out: "Cerrar sesión",
    all_clients: "← Todos los clientes",
    back_to_clients: "Volver a los clientes",
    times_in_utc: |zone| {
        format!("Las horas están en UTC: este servidor no conoce la zona horaria de la consulta, «{zone}».")
    },

    staff_sign_in: "Acceso del personal",
    invalid_key: "Esta clave de personal no es válida.",
    staff_key: "Clave de personal",
    key_hint: [
        "La clave",
        "que genera",
        ". Al iniciar sesión se abre una sesión en este navegador (la clave no se guarda); termina cuando usted cierra la sesión, cuando pasa un tiempo sin usarse o cuando la clave se revoca o caduca.",
    ],
    sign_in: "Iniciar sesión",
    host_sign_in: Said {
        title: "Inicie sesión",
        text: "Inicie sesión en el software de su consulta para usar estas páginas.",
    },
    trouble_title: "Algo ha fallado",
    trouble: |reference| format!("Vuelva a intentarlo. Referencia: {reference}"),
    no_such_client: Said { title: "Este cliente no existe", text: "Este cliente no existe en su consulta." },
    practice_gone: Said {
        title: "Esta consulta ya no existe",
        text: "Vuelva a iniciar sesión con una clave de su consulta.",
    },

    clients: "Clientes",
    search_label: "Buscar por nombre o correo electrónico",
    search: "Buscar",
    search_hint: "El comienzo de un nombre o de un correo electrónico; da igual usar mayúsculas o minúsculas.",
    clear_search: "Borrar la búsqueda",
    search_too_long: "No se ha buscado: una búsqueda tiene como máximo 100 caracteres.",
    search_characters: "No se ha buscado: una búsqueda no puede contener saltos de línea ni otros caracteres de control.",
    cursor_invalid: "Ese enlace de página ya no es válido; esta es la primera página.",
    portal_status: "Estado en el portal",
    all: "Todos",
    status_kind,
    invited_expires: |when| format!("Invitado; la invitación caduca el {when}"),
    active_as: |username| format!("Activo ({username})"),
    disabled_as: |username| format!("Desactivado ({username})"),
    no_more_clients: "No hay más clientes aquí.",
    back_to_first_page: "Volver a la primera página",
    no_match: |search, status| match status {
        Some(status) => format!("Ningún cliente coincide con «{search}» con el estado en el portal «{status}»."),
        None => format!("Ningún cliente coincide con «{search}»."),
    },
    none_with_status: |status| format!("No hay clientes con el estado en el portal «{status}»."),
    no_clients_yet: "Todavía no hay clientes.",
    select_legend: "Seleccione los clientes que quiere invitar al portal",
    select: "Seleccionar",
    name: "Nombre",
    portal: "Portal",
    select_client: |name| format!("Seleccionar a {name}"),
    send_selected: "Enviar invitaciones a los clientes seleccionados",
    pages: "Páginas",
    previous_page: "Página anterior",
    next_page: "Página siguiente",
    invite_every: "Invitar a todos los clientes sin cuenta (hasta 500)",
    invite_every_hint: "Clientes a los que nunca se invitó, o cuya invitación caducó, que tienen un correo electrónico en su ficha y no han pedido que no se les escriba.",

    email: "Correo electrónico",
    none_on_file: "ninguno en la ficha",
    language: "Idioma",
    language_name: |language| match language {
        Language::En => "Inglés",
        Language::Es => "Español",
    },
    audit_trail: "Registro de auditoría",
    nothing_yet: "Nada todavía.",
    audit_columns: ["Cuándo", "Qué", "Quién", "Resultado"],
    action,

    second_steps_title: "Segundos pasos de inicio de sesión",
    no_second_steps: "Ninguno: el cliente inicia sesión solo con la contraseña.",
    factor_kind: |kind| match kind {
        SecondFactorKind::Totp => "Aplicación de autenticación",
        SecondFactorKind::Passkey => "Llave de acceso",
        SecondFactorKind::RecoveryCode => "Código de recuperación",
    },
    factor_added: ", fecha de alta:",
    factor_last_used: ", último uso:",
    codes_left: |&left| match left {
        1 => "Queda 1 código de recuperación.".to_owned(),
        _ => format!("Quedan {left} códigos de recuperación."),
    },
    remove_factors_hint: "Si el cliente perdió el teléfono: después inicia sesión solo con la contraseña, o configura una nueva aplicación si la consulta lo exige. Se le avisa por correo electrónico.",
    remove_factors: "Quitar los segundos pasos",
    factors_removed_notice: "Segundos pasos quitados; se avisó al cliente por correo electrónico.",
    second_factor_policy: "Segundo paso de inicio de sesión (una aplicación de autenticación)",
    second_factor_policy_hint: "A un cliente que ya configuró uno siempre se le pide. El personal puede quitar los segundos pasos de un cliente desde su página.",
    second_factor_policies: [
        "Desactivado: los clientes no pueden configurarlo",
        "Opcional: los clientes pueden configurarlo",
        "Obligatorio: los clientes lo configuran en su próximo inicio de sesión",
    ],
    audit_detail,
    actor: |actor| match actor {
        Actor::Staff { label, .. } => format!("Personal: {label}"),
        Actor::Client => "El cliente".to_owned(),
        Actor::Anonymous => "Alguien sin sesión iniciada".to_owned(),
        Actor::System => "El portal".to_owned(),
    },
    done: "Hecho",
    failure,

    username: "Nombre de usuario",
    reason: "Motivo",
    invitation: "Invitación",
    password_reset: "Restablecimiento de la contraseña",
    reset_password: "Restablecer la contraseña",
    send_invite: "Enviar invitación al portal",
    resend_invite: "Reenviar la invitación",
    reminder_sent: |when| format!("Recordatorio enviado el {when}"),
    turn_off_reason: "Motivo de la desactivación (opcional)",
    access_on: "Acceso al portal activado",
    access_off: "Acceso al portal desactivado",
    sent: "Enviado",
    expires: "Caduca",
    link_closed: "Este enlace se cerró tras demasiadas fechas de nacimiento incorrectas; envíe uno nuevo.",
    no_date_of_birth: "No hay fecha de nacimiento en la ficha: el enlace se abre sin pedirla.",

    not_queued: "No se puso ningún correo en cola",
    waiting: "Pendiente de envío",
    handed_over: |when| format!("Entregado al servidor de correo el {when}"),
    not_delivered_yet: "Aún no entregado",
    retrying: "se volverá a intentar",
    next_try: |when, &attempts| {
        let attempts = if attempts == 1 { "1 intento".to_owned() } else { format!("{attempts} intentos") };
        format!("próximo intento: {when}; {attempts} hasta ahora")
    },
    could_not_deliver: "No se pudo entregar",
    after_attempts: |&attempts| format!(", tras {attempts} intentos"),
    not_sent: "No enviado",
    access_turned_off: "se desactivó el acceso al portal",
    link_replaced: "lo sustituyó un enlace más reciente, o ya se usó",
    delivery_cause,
    technical_detail: "Detalle técnico",

    invite_queued: "Invitación puesta en cola.",
    reset_queued: "Correo para restablecer la contraseña puesto en cola.",
    access_turned_on_notice: "Acceso al portal activado.",
    access_turned_off_notice: "Acceso al portal desactivado; se cerró la sesión del cliente.",
    not_done: |why| format!("No se ha hecho: {why}."),
    invalid_reason,
    invite_refused,
    reset_refused,
    toggle_refused,

    invitations: "Invitaciones",
    none_selected: "No se envió ninguna invitación: seleccione antes al menos un cliente en la lista.",
    too_many: |max| format!("No se envió ninguna invitación: se puede invitar como máximo a {max} clientes a la vez."),
    no_client_records: "No se envió ninguna invitación: este portal no guarda la lista de clientes; seleccione los clientes en el software de su consulta.",
    nobody_waiting: "Todos los clientes con correo electrónico ya tienen una cuenta o una invitación todavía válida: no se envió ninguna invitación.",
    sent_summary: |sent, not_sent| format!("Invitaciones enviadas: {sent}. Sin enviar: {not_sent}."),
    client: "Cliente",
    unknown_client: |id| format!("Cliente desconocido ({id})"),
    line_sent: "Enviada",
    line_resent: "Enviada de nuevo; el enlace anterior ya no funciona",
    skipped: |reason| {
        let why = match reason {
            SkipReason::AccountExists => {
                "ya tiene una cuenta del portal (envíe en su lugar un enlace para restablecer la contraseña)"
            }
            SkipReason::NoEmailOnFile => "no hay correo electrónico en su ficha",
            SkipReason::EmailNotPermitted => "ha pedido que no se le escriba",
            SkipReason::ClientNotFound => "no es cliente de su consulta",
        };
        format!("Omitido: {why}")
    },
    line_failed: |reference| format!("No enviada: algo ha fallado (referencia {reference}); vuelva a intentarlo"),
    not_attempted: "No enviada: el servicio dejó de estar disponible antes de llegar a este cliente; vuelva a intentarlo",
    more_waiting: |&remaining| {
        if remaining == 1 {
            "Queda 1 cliente más sin cuenta.".to_owned()
        } else {
            format!("Quedan {remaining} clientes más sin cuenta.")
        }
    },
    invite_next: |max| format!("Invitar a los {max} siguientes"),

    settings_saved: "Configuración guardada. Los enlaces ya enviados conservan su validez.",
    not_saved: "No se ha guardado",
    bad_name,
    bad_time_zone: |_| {
        "La zona horaria: use un nombre IANA que conozca este servidor, por ejemplo America/Chicago.".to_owned()
    },
    whole_hours: "Escriba un número entero de horas o deje el campo vacío.",
    link_lifetime_range: |min, max| format!("Un enlace puede ser válido entre {min} y {max} horas."),
    reminder_range: |max| {
        format!(
            "El recordatorio se envía entre 1 y {max} horas antes de que caduque la invitación (al menos una hora antes de que termine)."
        )
    },
    practice: "Consulta",
    name_label: "Nombre que aparece en los correos y las páginas",
    sign_in_address: ["Los clientes inician sesión en", "; esa dirección no cambia."],
    time_zone: "Zona horaria",
    time_zone_hint: "Un nombre IANA como America/Chicago: los correos y estas páginas indican las horas en esa zona.",
    discreet_mail: "Correo discreto: asuntos y remitente neutros, sin el nombre de la consulta",
    client_portal: "Portal de clientes",
    date_of_birth_check: "Pedir la fecha de nacimiento del cliente antes de que pueda usarse un enlace enviado por correo",
    date_of_birth_check_hint: "Solo para clientes con fecha de nacimiento en su ficha; cinco respuestas incorrectas cierran el enlace.",
    client_started_resets: "Permitir que los clientes pidan restablecer la contraseña desde la página de inicio de sesión",
    reminder_hours: "Recordatorio de la invitación, horas antes de que caduque el enlace",
    reminder_hint: "Vacío: sin recordatorio. Un cliente que no se ha registrado recibe un recordatorio con el mismo enlace.",
    invite_link_hours: "Validez de los enlaces de invitación (horas)",
    reset_link_hours: "Validez de los enlaces para restablecer la contraseña (horas)",
    server_lifetime: |lifetime| format!("De 1 a 168. Vacío: el valor de este servidor ({lifetime})."),
    save_settings: "Guardar la configuración",
};

const fn status_kind(kind: PortalStatusKind) -> &'static str {
    match kind {
        PortalStatusKind::NoAccount => "Sin cuenta",
        PortalStatusKind::Invited => "Invitado",
        PortalStatusKind::InviteExpired => "Invitación caducada",
        PortalStatusKind::Active => "Activo",
        PortalStatusKind::Disabled => "Desactivado",
    }
}

const fn action(action: AuditAction) -> &'static str {
    match action {
        AuditAction::ClientCreated => "Ficha del cliente creada",
        AuditAction::ClientUpdated => "Ficha del cliente modificada",
        AuditAction::InviteSent => "Invitación enviada",
        AuditAction::InviteResent => "Invitación reenviada",
        AuditAction::Registered => "Cuenta del portal creada",
        AuditAction::AccountDisabled => "Acceso al portal desactivado",
        AuditAction::AccountEnabled => "Acceso al portal activado",
        AuditAction::ResetSent => "Enlace para restablecer la contraseña enviado",
        AuditAction::ResetCompleted => "Contraseña cambiada con un enlace de restablecimiento",
        AuditAction::SignInSucceeded => "Inicio de sesión",
        AuditAction::SignInFailed => "Inicio de sesión fallido",
        AuditAction::SignInLocked => "Inicio de sesión bloqueado tras varios fallos seguidos",
        AuditAction::SignedOut => "Cierre de sesión",
        AuditAction::SessionsRevoked => "Sesiones revocadas",
        AuditAction::PasswordHashUpgraded => "Contraseña guardada con una protección más robusta",
        AuditAction::StaffKeyCreated => "Clave de personal creada",
        AuditAction::StaffKeyRevoked => "Clave de personal revocada",
        AuditAction::StaffSignedIn => "Inicio de sesión del personal en sus páginas",
        AuditAction::StaffSignInFailed => "Inicio de sesión del personal fallido",
        AuditAction::StaffSignedOut => "Cierre de sesión del personal en sus páginas",
        AuditAction::PracticeUpdated => "Configuración de la consulta modificada",
        AuditAction::DateOfBirthRefused => "Fecha de nacimiento incorrecta en un enlace enviado por correo",
        AuditAction::LinkVoided => "Enlace enviado por correo anulado tras demasiadas fechas de nacimiento incorrectas",
        AuditAction::ResetRequested => "Restablecimiento de la contraseña pedido desde la página de inicio de sesión",
        AuditAction::InviteReminderQueued => "Recordatorio de invitación",
        AuditAction::SecondFactorEnrolled => "Segundo paso de inicio de sesión añadido",
        AuditAction::SecondFactorRemoved => "Segundo paso de inicio de sesión quitado",
        AuditAction::SecondFactorUsed => "Segundo paso de inicio de sesión usado",
        AuditAction::SecondFactorRefused => "Segundo paso de inicio de sesión rechazado",
        AuditAction::RecoveryCodesRegenerated => "Nuevos códigos de recuperación (los anteriores dejaron de funcionar)",
    }
}

fn failure(failure: &AuditFailure) -> String {
    let why = match failure {
        AuditFailure::InvalidCredentials => "nombre de usuario o contraseña incorrectos",
        AuditFailure::AccountDisabled => "el acceso al portal está desactivado",
        AuditFailure::Throttled => "demasiados intentos en poco tiempo",
        AuditFailure::Locked => "bloqueado tras demasiados intentos fallidos",
        AuditFailure::KeyRevoked => "la clave de personal se revocó",
        AuditFailure::KeyExpired => "la clave de personal ha caducado",
        AuditFailure::NoMatch => "ninguna cuenta activa tiene ese nombre de usuario y correo; no se envió nada",
        AuditFailure::EmailNotPermitted => "el cliente pidió que no se le escribiera; no se envió nada",
        AuditFailure::NoEmailOnFile => "el cliente no tiene correo electrónico en su ficha; no se envió nada",
        AuditFailure::InvalidCode => "el código no era correcto",
        AuditFailure::ReplayedCode => "el código ya se había usado",
        AuditFailure::InvalidPasskey => "la llave de acceso no fue aceptada",
        AuditFailure::Unrecognised(code) => return format!("Rechazado ({})", code.as_str()),
    };
    format!("Rechazado: {why}")
}

const fn delivery_cause(cause: &DeliveryCause) -> &'static str {
    match cause {
        DeliveryCause::Unreachable => "no se pudo conectar con el servidor de correo",
        DeliveryCause::NoSecureConnection => "no se pudo establecer una conexión segura con el servidor de correo",
        DeliveryCause::TurnedAway => "el servidor de correo rechazó la conexión",
        DeliveryCause::SignInRefused => "el servidor de correo rechazó el inicio de sesión del portal",
        DeliveryCause::Deferred => "el servidor de correo pidió volver a intentarlo más tarde",
        DeliveryCause::AddressRefused => "se rechazó la dirección",
        DeliveryCause::SenderRefused => "el servidor de correo rechazó la dirección del remitente",
        DeliveryCause::MessageRefused => "el servidor de correo rechazó el mensaje",
        DeliveryCause::TimedOut => "el servidor de correo no respondió a tiempo",
        DeliveryCause::LinkExpired => "el enlace caducó antes de que se pudiera enviar el correo",
        DeliveryCause::NotWritten => "no se pudo guardar el correo en la carpeta de correo",
        DeliveryCause::NotBuilt => "no se pudo componer el correo",
        DeliveryCause::ClientGone => "el cliente ya no figuraba en los registros de la consulta cuando iba a enviarse",
        DeliveryCause::Other
        | DeliveryCause::PracticeGone
        | DeliveryCause::CancelledAccountDisabled
        | DeliveryCause::CancelledLinkSuperseded => "el sistema de correo informó de un problema",
    }
}

/// A refused disable reason (the only field of that form).
fn invalid_reason(invalid: &InvalidInput) -> String {
    match invalid {
        InvalidInput::TooLong { max, .. } => format!("el motivo admite como máximo {max} caracteres"),
        InvalidInput::BadCharacter { .. } => "el motivo solo admite caracteres imprimibles".to_owned(),
        InvalidInput::TooShort { .. } | InvalidInput::Malformed { .. } => "el motivo no es válido".to_owned(),
    }
}

fn bad_name(invalid: &InvalidInput) -> String {
    match invalid {
        InvalidInput::TooShort { .. } => "Escriba el nombre de la consulta.".to_owned(),
        InvalidInput::TooLong { max, .. } => format!("El nombre de la consulta: use como máximo {max} caracteres."),
        InvalidInput::BadCharacter { .. } => {
            "El nombre de la consulta: use solo caracteres imprimibles, sin saltos de línea.".to_owned()
        }
        InvalidInput::Malformed { .. } => "El nombre de la consulta no es válido.".to_owned(),
    }
}

const NO_EMAIL: &str = "el cliente no tiene correo electrónico en su ficha";
const EMAIL_NOT_PERMITTED: &str = "el cliente ha pedido que no se le escriba";
const NOT_FOUND: &str = "el cliente no existe";
const TROUBLE: &str = "algo ha fallado; vuelva a intentarlo";

fn invite_refused(error: &SendInviteError) -> String {
    match error {
        SendInviteError::AccountExists(InviteRefused::AccountExists) => {
            "el cliente ya tiene una cuenta del portal; envíe en su lugar un enlace para restablecer la contraseña"
        }
        SendInviteError::NoEmailOnFile => NO_EMAIL,
        SendInviteError::EmailNotPermitted => EMAIL_NOT_PERMITTED,
        SendInviteError::ClientNotFound => NOT_FOUND,
        SendInviteError::Infrastructure(_) => TROUBLE,
    }
    .to_owned()
}

fn reset_refused(error: &SendResetError) -> String {
    match error {
        SendResetError::Refused(ResetRefused::NoAccount) => {
            "el cliente no tiene cuenta del portal; envíele una invitación"
        }
        SendResetError::Refused(ResetRefused::AccountDisabled) => {
            "la cuenta del portal está desactivada; actívela primero"
        }
        SendResetError::NoEmailOnFile => NO_EMAIL,
        SendResetError::EmailNotPermitted => EMAIL_NOT_PERMITTED,
        SendResetError::ClientNotFound => NOT_FOUND,
        SendResetError::Infrastructure(_) => TROUBLE,
    }
    .to_owned()
}

fn toggle_refused(error: &ToggleError) -> String {
    match error {
        ToggleError::Refused(ToggleRefused::NoAccount) => "el cliente no tiene cuenta del portal",
        ToggleError::ClientNotFound => NOT_FOUND,
        ToggleError::Infrastructure(_) => TROUBLE,
    }
    .to_owned()
}

/// The core's details (see `StaffTexts::audit_detail`) in Spanish; a detail of another shape, or
/// a reason staff typed, is shown as it is.
fn audit_detail(action: AuditAction, detail: &str) -> String {
    let link = |purpose: &str| match purpose {
        "invite" => Some("enlace de invitación"),
        "reset" => Some("enlace para restablecer la contraseña"),
        _ => None,
    };
    let worded = match action {
        AuditAction::Registered => detail.strip_prefix("username ").map(|name| format!("nombre de usuario {name}")),
        AuditAction::DateOfBirthRefused => detail
            .strip_suffix(" tries left")
            .and_then(|rest| rest.split_once(" link, "))
            .and_then(|(purpose, tries)| Some((link(purpose)?, tries.parse::<u8>().ok()?)))
            .map(|(link, tries)| match tries {
                1 => format!("{link}, queda 1 intento"),
                _ => format!("{link}, quedan {tries} intentos"),
            }),
        AuditAction::LinkVoided => detail
            .split_once(" link closed after ")
            .and_then(|(purpose, rest)| Some((link(purpose)?, rest.strip_suffix(" wrong dates of birth")?)))
            .map(|(link, count)| format!("{link} cerrado tras {count} fechas de nacimiento incorrectas")),
        _ => None,
    };
    worded.unwrap_or_else(|| detail.to_owned())
}
