with

source as (

    select * from {{ source('raw', 'xkrx_sessions') }}

),

renamed as (

    select cast(session_date as date) as session_date

    from source

)

select * from renamed
