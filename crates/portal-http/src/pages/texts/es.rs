//! The client pages in Spanish (usted, as the mail is written).

use portal_core::InvalidInput;
use portal_core::password_policy::PasswordProblem;

use super::{Said, Texts};

pub(super) const TEXTS: Texts = Texts {
    client_portal: "Portal de clientes",
    skip_to_content: "Saltar al contenido",
    language_links: "Idioma",

    fix_the_following: "Corrija lo siguiente",
    username: "Nombre de usuario",
    password: "Contraseña",
    new_password: "Nueva contraseña",
    date_of_birth: "Fecha de nacimiento",
    date_of_birth_hint: "Su proveedor la pide antes de abrir este enlace. Si el campo admite texto, escríbala como año-mes-día, por ejemplo 1990-07-14.",
    date_of_birth_mismatch: |&tries_left| {
        let tries =
            if tries_left == 1 { "Le queda 1 intento".to_owned() } else { format!("Le quedan {tries_left} intentos") };
        format!("Fecha de nacimiento: no coincide con nuestros registros. {tries} antes de que se cierre este enlace.")
    },
    username_hint: "De 3 a 64 caracteres: letras, dígitos y . _ - @, empezando por una letra o un dígito. No podrá cambiarlo después.",
    password_length_hint: |&min| {
        format!("Al menos {min} caracteres. Unas cuantas palabras sin relación entre sí son una buena contraseña.")
    },
    password_rule_hints: [
        "No se exigen dígitos, símbolos ni mayúsculas.",
        "Que no sea una contraseña común.",
        "Que no contenga su nombre de usuario ni el nombre de la consulta.",
    ],
    invalid_username,
    username_taken: "Nombre de usuario: ya está en uso; elija otro.",
    password_problem,
    back_to_sign_in: "Volver a iniciar sesión",

    sign_in: "Iniciar sesión",
    sign_in_to: |practice| format!("En su portal de clientes de {practice}."),
    wrong_credentials: "El nombre de usuario o la contraseña no son correctos.",
    forgot_password: "¿Olvidó su contraseña?",
    forgot_password_ask_provider: "¿Olvidó su contraseña? Pida a su proveedor que le envíe un enlace para restablecerla.",
    your_portal: "Su portal",
    welcome: |client| format!("Le damos la bienvenida, {client}"),
    name: "Nombre",
    practice: "Consulta",
    sign_out: "Cerrar sesión",

    create_account_title: "Cree su cuenta del portal",
    invited: |practice, expires| {
        format!("{practice} le invita a su portal de clientes. Esta invitación es válida hasta el {expires}.")
    },
    create_account: "Crear cuenta",
    account_created_title: "Cuenta creada: inicie sesión",
    account_ready_before: "Su cuenta",
    account_ready_after: |practice| format!(" en {practice} está lista."),

    choose_new_password_title: "Elija una nueva contraseña",
    reset_for: |practice, expires| {
        format!("Para su cuenta del portal de {practice}. Este enlace es válido hasta el {expires}.")
    },
    change_password: "Cambiar la contraseña",
    password_changed_title: "Contraseña cambiada: inicie sesión",
    password_changed: "Su contraseña se ha cambiado y se han cerrado todas sus sesiones.",
    sign_in_with_new_password: "Inicie sesión con su nueva contraseña",

    forgot_password_intro: |practice| {
        format!(
            "Escriba su nombre de usuario y el correo electrónico que {practice} tiene en su ficha. Le enviaremos un enlace para elegir una nueva contraseña."
        )
    },
    forgot_password_incomplete: "Escriba su nombre de usuario y un correo electrónico completo.",
    email_on_file: "Correo electrónico de su ficha",
    email_me_a_link: "Enviarme un enlace",
    check_your_email_title: "Revise su correo",
    check_your_email: |lifetime| {
        format!(
            "Si el nombre de usuario y el correo electrónico corresponden a una cuenta activa, le hemos enviado un enlace para elegir una nueva contraseña. El enlace es válido durante {lifetime}. Si no recibe ningún mensaje en unos minutos, revise la carpeta de correo no deseado."
        )
    },

    open_invitation_link: Said {
        title: "Abra el enlace de su correo",
        text: "Esta página necesita el enlace de invitación de su correo. Ábralo de nuevo; si ya no funciona, pida a su proveedor que le envíe uno nuevo.",
    },
    open_reset_link: Said {
        title: "Abra el enlace de su correo",
        text: "Esta página necesita el enlace para restablecer la contraseña de su correo. Ábralo de nuevo; si ya no funciona, pida a su proveedor que le envíe uno nuevo.",
    },
    link_closed: Said {
        title: "Este enlace se ha cerrado",
        text: "Este enlace se cerró tras demasiadas respuestas incorrectas; pida a su proveedor que le envíe uno nuevo.",
    },
    invitation_expired: Said {
        title: "Esta invitación ha caducado",
        text: "Esta invitación ha caducado: pida a su proveedor que se la vuelva a enviar.",
    },
    invitation_gone: Said {
        title: "Este enlace de invitación ya no funciona",
        text: "El enlace ya se usó, se sustituyó por una invitación más reciente o está incompleto. Si ya creó su cuenta, inicie sesión con el enlace que le dio su proveedor; si no, pídale que le vuelva a enviar la invitación.",
    },
    reset_expired: Said {
        title: "Este enlace ha caducado",
        text: "Este enlace para restablecer la contraseña ha caducado: pida a su proveedor que le envíe uno nuevo.",
    },
    reset_gone: Said {
        title: "Este enlace ya no funciona",
        text: "El enlace ya se usó, se sustituyó por uno más reciente o está incompleto: pida a su proveedor que le envíe uno nuevo.",
    },
    account_disabled: Said {
        title: "Su cuenta está desactivada",
        text: "Su cuenta del portal está desactivada: póngase en contacto con su proveedor.",
    },
    no_practice: Said {
        title: "No hay ninguna consulta en esta dirección",
        text: "Compruebe el enlace de inicio de sesión que le dio su proveedor.",
    },
    resets_not_available: Said {
        title: "Aquí no se puede restablecer la contraseña",
        text: "Pida a su proveedor que le envíe un enlace para restablecer la contraseña.",
    },
    signed_out: Said {
        title: "Ha cerrado la sesión",
        text: "Su sesión ha terminado. Vuelva a iniciar sesión con el enlace que le dio su proveedor.",
    },
    busy: Said {
        title: "Mucha actividad en este momento",
        text: "Muchas personas están iniciando sesión ahora mismo. Vuelva a intentarlo en unos segundos.",
    },
    busy_requests: Said {
        title: "Mucha actividad en este momento",
        text: "Se están atendiendo muchas solicitudes. Vuelva a intentarlo en unos segundos.",
    },
    form_expired: Said {
        title: "Este formulario ha caducado",
        text: "Por su seguridad no se pudo aceptar el formulario. Vuelva atrás, recargue la página e inténtelo de nuevo.",
    },
    trouble_title: "Algo ha fallado",
    trouble: |reference| {
        format!(
            "Vuelva a intentarlo dentro de un momento. Si sigue ocurriendo, indique a su proveedor esta referencia: {reference}"
        )
    },
    too_many_attempts: "Demasiados intentos",
    too_many_requests: |seconds| {
        format!("Demasiadas solicitudes desde su red. Vuelva a intentarlo dentro de {seconds} segundos.")
    },
    too_many_sign_ins: |seconds| {
        format!("Demasiados intentos de inicio de sesión: vuelva a intentarlo dentro de {seconds} segundos.")
    },
    second_step_title: "Segundo paso para entrar",
    app_code: "Código de su aplicación de autenticación",
    app_code_hint: "Los 6 dígitos que muestra ahora la aplicación.",
    use_recovery_code: "¿No puede usar su llave de acceso ni su aplicación? Use un código de recuperación",
    recovery_code: "Código de recuperación",
    recovery_code_hint: "Uno de los códigos que guardó al configurar su segundo paso. Cada uno sirve una sola vez.",
    continue_: "Continuar",
    code_not_right: "El código no es correcto. Compruebe que la hora de su teléfono es correcta e inténtelo de nuevo.",
    step_expired: Said {
        title: "Vuelva a iniciar sesión",
        text: "Este paso ha caducado o ya se usó. Vuelva a iniciar sesión con su nombre de usuario y contraseña.",
    },
    enrolment_lapsed: Said {
        title: "Empiece de nuevo",
        text: "La configuración de la aplicación tardó demasiado. Empiece de nuevo para obtener un código nuevo.",
    },
    set_up_app_title: "Configure una aplicación de autenticación",
    required_by_practice: |practice| {
        format!("{practice} pide un segundo paso al iniciar sesión. Configúrelo ahora para entrar en su portal.")
    },
    scan_qr: "Escanee este código con una aplicación de autenticación, por ejemplo en su teléfono.",
    qr_label: "Código QR para su aplicación de autenticación",
    enter_key: "O escriba esta clave en la aplicación:",
    then_code: "Luego escriba el código de 6 dígitos que muestra la aplicación.",
    factor_name: "Nombre (opcional)",
    factor_name_hint: "Para distinguir sus aplicaciones, por ejemplo Teléfono.",
    recovery_codes_title: "Sus códigos de recuperación",
    recovery_codes_intro: "Guarde estos códigos en un lugar seguro. Si no puede usar su llave de acceso ni su aplicación de autenticación, cada código le permite entrar una vez. Solo se muestran ahora.",
    go_to_portal: "Ir a su portal",
    sign_in_security: "Seguridad del inicio de sesión",
    password_only: "Solo su contraseña protege su cuenta. Agregue una llave de acceso o una aplicación de autenticación para un segundo paso al iniciar sesión.",
    factors_off: "Su proveedor no ofrece un segundo paso al iniciar sesión.",
    added_on: |date| format!("Agregada el {date}"),
    remove: "Quitar",
    add_app: "Agregar una aplicación de autenticación",
    codes_left: |&left| {
        if left == 1 {
            "Queda 1 código de recuperación.".to_owned()
        } else {
            format!("Quedan {left} códigos de recuperación.")
        }
    },
    new_codes: "Crear códigos de recuperación nuevos",
    new_codes_hint: "Los anteriores dejan de funcionar.",
    factor_required: "Su proveedor exige un segundo paso: agregue otra llave de acceso u otra aplicación antes de quitar esta.",
    add_passkey: "Agregar una llave de acceso",
    passkey_create_intro: "Una llave de acceso le permite confirmar que es usted con su huella, su cara, el bloqueo de pantalla o una llave de seguridad. Se queda en su dispositivo: su proveedor nunca la ve.",
    passkey_name_hint: "Para distinguir sus llaves de acceso, por ejemplo Portátil.",
    create_passkey: "Crear la llave de acceso",
    use_passkey_intro: "Confirme con su huella, su cara, el bloqueo de pantalla o su llave de seguridad.",
    use_passkey: "Usar una llave de acceso",
    sign_in_with_passkey: "Iniciar sesión con una llave de acceso",
    passkey_sign_in_intro: "Sin nombre de usuario ni contraseña: elija su llave de acceso de este portal y confirme que es usted.",
    passkey_unsupported: "Este navegador no puede usar llaves de acceso. Entre de otra manera o con otro navegador.",
    passkey_failed: "No se usó la llave de acceso. Inténtelo de nuevo.",
    passkey_exists: "Este dispositivo ya tiene una llave de acceso para su cuenta.",
    passkey_rejected: "La llave de acceso no fue aceptada. Inténtelo de nuevo o entre de otra manera.",
    passkey_in_use: "Esta llave de acceso ya está registrada.",
    passkey_needs_script: "Las llaves de acceso necesitan JavaScript, que está desactivado en este navegador.",
    passkey_instead: "Usar una llave de acceso en su lugar",
    or_a_code: "O escriba un código",
    kind_passkey: "Llave de acceso",
    kind_app: "Aplicación de autenticación",
};

fn invalid_username(invalid: &InvalidInput) -> String {
    let why = match invalid {
        InvalidInput::TooShort { min, .. } => format!("use al menos {min} caracteres"),
        InvalidInput::TooLong { max, .. } => format!("use como máximo {max} caracteres"),
        InvalidInput::BadCharacter { .. } | InvalidInput::Malformed { .. } => {
            "use solo letras, dígitos y . _ - @, empezando por una letra o un dígito".to_owned()
        }
    };
    format!("Nombre de usuario: {why}.")
}

fn password_problem(problem: &PasswordProblem) -> String {
    let why = match problem {
        PasswordProblem::TooShort { min } => format!("use al menos {min} caracteres"),
        PasswordProblem::TooLong { max } => format!("use como máximo {max} caracteres"),
        PasswordProblem::TooManyBytes { .. } => "la contraseña es demasiado larga".to_owned(),
        PasswordProblem::Common => "esta contraseña es demasiado común; elija una más difícil de adivinar".to_owned(),
        PasswordProblem::ContainsUsername => "la contraseña no debe contener su nombre de usuario".to_owned(),
        PasswordProblem::ContainsPracticeName => "la contraseña no debe contener el nombre de la consulta".to_owned(),
        PasswordProblem::ControlCharacters => "la contraseña no debe contener caracteres de control".to_owned(),
    };
    format!("Contraseña: {why}.")
}
